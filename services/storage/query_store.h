// Owns: the SQL behind every read RPC of iss.storage.v1. Requests are
// validated first (query_request.h); every statement is parameterised, and
// timestamps travel as text in microseconds precision both ways.
// Plain class over a ConnectionPool: tests call it without gRPC.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "iss/storage/v1/storage.pb.h"
#include "services/storage/conn_pool.h"
#include "services/storage/query_request.h"

namespace iss::storage {

class QueryStore {
 public:
  QueryStore(ConnectionPool* pool, QueryLimits limits) : pool_(pool), limits_(limits) {}

  absl::StatusOr<iss::storage::v1::QueryWindowResponse> QueryWindow(
      const iss::storage::v1::QueryWindowRequest& req);
  absl::StatusOr<iss::storage::v1::GetLatestResponse> GetLatest(
      const iss::storage::v1::GetLatestRequest& req);
  absl::StatusOr<iss::storage::v1::GetSeriesResponse> GetSeries(
      const iss::storage::v1::GetSeriesRequest& req);
  absl::StatusOr<iss::storage::v1::ListItemsResponse> ListItems(
      const iss::storage::v1::ListItemsRequest& req);
  absl::StatusOr<iss::storage::v1::Item> GetItem(const iss::storage::v1::GetItemRequest& req);

  // Streams the window in (source_ts, item_id, event_id) order through a
  // server-side cursor, `chunk` rows at a time; `emit` returns false to stop.
  absl::Status Replay(const iss::storage::v1::ReplayRequest& req,
                      const std::function<bool(const iss::telemetry::v1::TelemetryEvent&)>& emit,
                      int chunk = 2000);

  // next_offset per (topic, partition) stored for `group`.
  absl::StatusOr<std::vector<iss::storage::v1::PartitionProgress>> StoredOffsets(
      const std::string& group);

  const QueryLimits& limits() const { return limits_; }

 private:
  ConnectionPool* pool_;
  const QueryLimits limits_;
};

// `{"a","b"}`: a PostgreSQL text[] literal, passed as ONE parameter.
std::string TextArrayLiteral(const std::vector<std::string>& values);

}  // namespace iss::storage
