// Owns: the iss.storage.v1.StorageService gRPC edge: maps each RPC onto
// QueryStore / TailHub / the sink's status and absl::Status onto gRPC codes.
// No logic of its own beyond streaming loops.
#pragma once

#include <functional>
#include <string>

#include "iss/storage/v1/storage.grpc.pb.h"
#include "services/storage/query_store.h"
#include "services/storage/sink.h"
#include "services/storage/tail_hub.h"

namespace iss::storage {

// The largest request message the server takes (GrpcServerOptions::
// max_receive_bytes): GetLatest naming 1000 ids of 64 bytes, the longest
// legitimate request, is 66,000 bytes on the wire (QueryWindow's 100 ids and
// a token about 7 KB). Anything bigger is refused RESOURCE_EXHAUSTED before it
// is parsed; list lengths and id sizes are checked before any work.
inline constexpr int kMaxRequestBytes = 128 << 10;

class StorageServiceImpl final : public iss::storage::v1::StorageService::Service {
 public:
  // `sink` may be null (a query-only replica); the others are required.
  StorageServiceImpl(QueryStore* store, TailHub* tail, const Sink* sink, std::string group_id)
      : store_(store), tail_(tail), sink_(sink), group_id_(std::move(group_id)) {}

  grpc::Status QueryWindow(grpc::ServerContext* ctx, const v1::QueryWindowRequest* req,
                           v1::QueryWindowResponse* resp) override;
  grpc::Status GetLatest(grpc::ServerContext* ctx, const v1::GetLatestRequest* req,
                         v1::GetLatestResponse* resp) override;
  grpc::Status GetSeries(grpc::ServerContext* ctx, const v1::GetSeriesRequest* req,
                         v1::GetSeriesResponse* resp) override;
  grpc::Status ListItems(grpc::ServerContext* ctx, const v1::ListItemsRequest* req,
                         v1::ListItemsResponse* resp) override;
  grpc::Status GetItem(grpc::ServerContext* ctx, const v1::GetItemRequest* req,
                       v1::Item* resp) override;
  grpc::Status Tail(grpc::ServerContext* ctx, const v1::TailRequest* req,
                    grpc::ServerWriter<iss::telemetry::v1::TelemetryEvent>* writer) override;
  grpc::Status Replay(grpc::ServerContext* ctx, const v1::ReplayRequest* req,
                      grpc::ServerWriter<iss::telemetry::v1::TelemetryEvent>* writer) override;
  grpc::Status GetSinkStatus(grpc::ServerContext* ctx, const v1::GetSinkStatusRequest* req,
                             v1::SinkStatus* resp) override;

 private:
  QueryStore* store_;
  TailHub* tail_;
  const Sink* sink_;
  const std::string group_id_;
};

}  // namespace iss::storage
