// Owns: the SQL behind every read RPC of iss.storage.v1. Requests are
// validated first (query_request.h); every statement is parameterised, and
// timestamps travel as text in microseconds precision both ways.
// Plain class over a ConnectionPool: tests call it without gRPC.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "iss/storage/v1/storage.pb.h"
#include "services/storage/conn_pool.h"
#include "services/storage/query_request.h"

namespace iss::storage {

class QueryStore {
 public:
  QueryStore(ConnectionPool* pool, QueryLimits limits)
      : pool_(pool),
        limits_(limits),
        replay_slots_(pool->size() > 1 ? static_cast<int>(pool->size()) - 1 : 1) {}

  absl::StatusOr<iss::storage::v1::QueryWindowResponse> QueryWindow(
      const iss::storage::v1::QueryWindowRequest& req);
  absl::StatusOr<iss::storage::v1::GetLatestResponse> GetLatest(
      const iss::storage::v1::GetLatestRequest& req);
  absl::StatusOr<iss::storage::v1::GetSeriesResponse> GetSeries(
      const iss::storage::v1::GetSeriesRequest& req);
  absl::StatusOr<iss::storage::v1::ListItemsResponse> ListItems(
      const iss::storage::v1::ListItemsRequest& req);
  absl::StatusOr<iss::storage::v1::Item> GetItem(const iss::storage::v1::GetItemRequest& req);

  // Streams the window in (source_ts, item_id, event_id) order,
  // limits().replay_page_rows per keyset page; `emit` returns false to stop. No connection or
  // transaction is held while `emit` runs, so a client that stops reading pins nothing in the
  // database. Each page is its own snapshot: rows committed during a replay may appear if they sort
  // after the position reached, never twice. At most pool size - 1 (at least 1) replay pages query
  // at once (RESOURCE_EXHAUSTED after waiting), so the other RPCs always find a connection however
  // many replays run.
  absl::Status Replay(const iss::storage::v1::ReplayRequest& req,
                      const std::function<bool(const iss::telemetry::v1::TelemetryEvent&)>& emit);

  // next_offset per (topic, partition) stored for `group`.
  absl::StatusOr<std::vector<iss::storage::v1::PartitionProgress>> StoredOffsets(
      const std::string& group);

  const QueryLimits& limits() const { return limits_; }

 private:
  // Runs `fn` on a pooled connection while holding one of replay_slots_.
  absl::Status RunReplayPage(const std::function<void(pqxx::connection&)>& fn);

  ConnectionPool* pool_;
  const QueryLimits limits_;
  const int replay_slots_;
  absl::Mutex replay_mu_;
  int replay_busy_ ABSL_GUARDED_BY(replay_mu_) = 0;
};

// `{"a","b"}`: a PostgreSQL text[] literal, passed as ONE parameter.
std::string TextArrayLiteral(const std::vector<std::string>& values);

}  // namespace iss::storage
