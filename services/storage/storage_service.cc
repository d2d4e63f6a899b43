#include "services/storage/storage_service.h"

#include "absl/status/status.h"
#include "common/grpc_util.h"

namespace iss::storage {
namespace {

namespace v1 = iss::storage::v1;

template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* out) {
  if (!result.ok()) return ToGrpc(result.status());
  *out = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status StorageServiceImpl::QueryWindow(grpc::ServerContext*,
                                             const v1::QueryWindowRequest* req,
                                             v1::QueryWindowResponse* resp) {
  return Reply(store_->QueryWindow(*req), resp);
}

grpc::Status StorageServiceImpl::GetLatest(grpc::ServerContext*, const v1::GetLatestRequest* req,
                                           v1::GetLatestResponse* resp) {
  return Reply(store_->GetLatest(*req), resp);
}

grpc::Status StorageServiceImpl::GetSeries(grpc::ServerContext*, const v1::GetSeriesRequest* req,
                                           v1::GetSeriesResponse* resp) {
  return Reply(store_->GetSeries(*req), resp);
}

grpc::Status StorageServiceImpl::ListItems(grpc::ServerContext*, const v1::ListItemsRequest* req,
                                           v1::ListItemsResponse* resp) {
  return Reply(store_->ListItems(*req), resp);
}

grpc::Status StorageServiceImpl::GetItem(grpc::ServerContext*, const v1::GetItemRequest* req,
                                         v1::Item* resp) {
  return Reply(store_->GetItem(*req), resp);
}

grpc::Status StorageServiceImpl::Tail(
    grpc::ServerContext* ctx, const v1::TailRequest* req,
    grpc::ServerWriter<iss::telemetry::v1::TelemetryEvent>* writer) {
  QueryLimits limits = store_->limits();
  limits.max_items = 1000;
  auto ids = ParseItemIds(req->item_ids(), "item_ids", limits, /*allow_empty=*/true);
  if (!ids.ok()) return ToGrpc(ids.status());
  auto sub = tail_->Subscribe(*ids);
  // Headers go out at once so a client knows it is subscribed before any event.
  writer->SendInitialMetadata();
  std::vector<EventPtr> batch;
  while (!ctx->IsCancelled()) {
    batch.clear();
    const auto state = sub->Next(&batch, absl::Milliseconds(200));
    if (state == TailHub::Subscription::State::kDropped) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "tail: client too slow, buffer overflowed; resubscribe");
    }
    if (state == TailHub::Subscription::State::kClosed) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "tail: server shutting down");
    }
    // One flush per batch, not per event: at 10k events/s a write per event
    // (a frame and a wake-up each) is what made readers fall behind.
    for (size_t i = 0; i < batch.size(); ++i) {
      grpc::WriteOptions options;
      if (i + 1 < batch.size()) options.set_buffer_hint();
      if (!writer->Write(*batch[i], options)) return grpc::Status::OK;  // client gone
    }
  }
  return grpc::Status::OK;
}

grpc::Status StorageServiceImpl::Replay(
    grpc::ServerContext* ctx, const v1::ReplayRequest* req,
    grpc::ServerWriter<iss::telemetry::v1::TelemetryEvent>* writer) {
  bool client_gone = false;
  absl::Status s = store_->Replay(*req, [&](const iss::telemetry::v1::TelemetryEvent& e) {
    if (ctx->IsCancelled() || !writer->Write(e)) {
      client_gone = true;
      return false;
    }
    return true;
  });
  if (client_gone) return grpc::Status(grpc::StatusCode::CANCELLED, "replay: cancelled");
  return ToGrpc(s);
}

grpc::Status StorageServiceImpl::GetSinkStatus(grpc::ServerContext*,
                                               const v1::GetSinkStatusRequest*,
                                               v1::SinkStatus* resp) {
  resp->set_consumer_group(group_id_);
  SinkStats stats;
  if (sink_ != nullptr) stats = sink_->Stats();
  resp->set_rows_written(stats.rows_written);
  resp->set_batches_committed(stats.batches_committed);
  resp->set_dead_lettered(stats.dead_lettered);
  auto offsets = store_->StoredOffsets(group_id_);
  resp->set_database_reachable(offsets.ok());
  if (offsets.ok()) {
    for (auto& p : *offsets) {
      auto lag = stats.lag.find(kafka::TopicPartition{p.topic(), p.partition()});
      p.set_lag(lag == stats.lag.end() ? 0 : lag->second);
      *resp->add_partitions() = std::move(p);
    }
  }
  return grpc::Status::OK;
}

}  // namespace iss::storage
