#include "services/ingestion/service.h"

#include "absl/strings/str_cat.h"
#include "common/event_id.h"
#include "common/grpc_server.h"
#include "common/grpc_util.h"

namespace iss::ingest {
namespace {

std::optional<std::string> Opt(bool has, const std::string& v) {
  return has ? std::optional<std::string>(v) : std::nullopt;
}

// Timestamp fields are checked here, before the pipeline sees an instant.
absl::Status CheckTimestamp(const google::protobuf::Timestamp& ts, const char* field) {
  // RFC 3339 range (0001-01-01 .. 9999-12-31), nanos in [0, 1e9).
  constexpr int64_t kMin = -62135596800, kMax = 253402300799;
  if (ts.seconds() < kMin || ts.seconds() > kMax || ts.nanos() < 0 || ts.nanos() >= 1000000000) {
    return Rejection(kBadTimestamp, absl::StrCat("field ", field, ": out of range"));
  }
  return absl::OkStatus();
}

}  // namespace

grpc::Status IngestServiceImpl::IngestTestEvent(grpc::ServerContext* ctx,
                                                const iss::ingest::v1::IngestTestEventRequest* req,
                                                iss::ingest::v1::IngestTestEventResponse* resp) {
  // Admin RPC: gRPC interceptors cannot stop a call before its handler runs,
  // so the check is here first (common/grpc_server.h).
  if (auto s = AuthorizeAdmin(*ctx); !s.ok()) return ToGrpc(s);
  ValidatedUpdate candidate;
  candidate.item_id = req->item_id();
  candidate.value = Opt(req->has_value(), req->value());
  candidate.status_class = Opt(req->has_status_class(), req->status_class());
  candidate.status_indicator = Opt(req->has_status_indicator(), req->status_indicator());
  candidate.status_color = Opt(req->has_status_color(), req->status_color());
  candidate.calibrated_data = Opt(req->has_calibrated_data(), req->calibrated_data());
  candidate.source = "test-ingest";  // received_at unset: the call time
  std::optional<absl::Time> source_ts;
  if (req->has_source_ts()) {
    // Only reject a bad timestamp once the item id has passed, so the error
    // names the first bad field in request order.
    if (IsValidItemId(req->item_id())) {
      if (absl::Status s = CheckTimestamp(req->source_ts(), "source_ts"); !s.ok()) {
        pipeline_->CountRejected(s, "test-ingest");
        return ToGrpc(s);
      }
    }
    source_ts = FromProto(req->source_ts());
  }
  // A caller replaying a recorded update gives its receive time; the
  // validator holds it to source_ts's range, after the other fields.
  if (req->has_received_ts()) {
    if (absl::Status s = CheckTimestamp(req->received_ts(), "received_ts"); !s.ok()) {
      pipeline_->CountRejected(s, "test-ingest");
      return ToGrpc(s);
    }
    candidate.received_at = FromProto(req->received_ts());
  }
  absl::StatusOr<std::string> id = pipeline_->IngestTyped(std::move(candidate), source_ts);
  if (!id.ok()) return ToGrpc(id.status());
  resp->set_event_id(*id);
  resp->set_status("enqueued");
  return grpc::Status::OK;
}

grpc::Status IngestServiceImpl::GetIngestStatus(grpc::ServerContext*,
                                                const iss::ingest::v1::GetIngestStatusRequest* req,
                                                iss::ingest::v1::IngestStatus* resp) {
  if (req->item_ids_size() > kMaxStatusItems) {
    return ToGrpc(absl::InvalidArgumentError(
        absl::StrCat("field item_ids: at most ", kMaxStatusItems, " ids (or [\"*\"])")));
  }
  const SourceStatus src = source_status_ ? source_status_() : SourceStatus{};
  resp->MergeFrom(src.detail);
  resp->clear_session_id();  // a detail never carries the secret, and never will
  resp->set_connection_state(src.state);
  // The session id is a bearer secret (bind_session with it takes the stream
  // over) and this answer is public: only its fingerprint leaves the process.
  if (!src.session_id.empty()) resp->set_session_fingerprint(Fingerprint(src.session_id));
  resp->set_server(src.server);
  resp->set_subscribed_items(src.subscribed_items);
  resp->set_reconnects(src.reconnects);

  const SignalTracker::Snapshot signal = pipeline_->signal()->Peek();
  resp->set_signal(signal.state);
  if (signal.since != absl::InfinitePast()) ToProto(signal.since, resp->mutable_signal_since());

  resp->set_queue_depth(pipeline_->queue()->depth());
  resp->set_queue_capacity(pipeline_->queue()->capacity());
  const Pipeline::Counters c = pipeline_->counters();
  resp->set_updates_received(c.updates_received);
  resp->set_events_invalid(c.events_invalid);
  resp->set_events_published(published_ ? published_() : 0);
  if (c.last_update_at != absl::InfinitePast()) {
    ToProto(c.last_update_at, resp->mutable_last_update_at());
  }

  std::vector<std::string> ids(req->item_ids().begin(), req->item_ids().end());
  for (const Pipeline::ItemState& s : pipeline_->Items(ids)) {
    auto* item = resp->add_items();
    item->set_item_id(s.item_id);
    ToProto(s.last_source_ts, item->mutable_last_source_ts());
    ToProto(s.last_received_at, item->mutable_last_received_at());
    if (s.last_value) item->set_last_value(*s.last_value);
    item->set_updates(s.updates);
  }
  return grpc::Status::OK;
}

}  // namespace iss::ingest
