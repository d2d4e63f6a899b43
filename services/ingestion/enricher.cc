#include "services/ingestion/enricher.h"

#include "common/event_id.h"
#include "common/grpc_util.h"
#include "common/isslive_time.h"

namespace iss::ingest {
namespace {

// Only an event parsed from bytes can carry fields this schema does not know.
// `M` is the generated type: its Reflection is looked up once per type, not
// per call (m.GetReflection() goes through the descriptor table's once-flag
// on every call, five times per event).
template <typename M>
void ClearUnknownFields(M& m) {
  static const google::protobuf::Reflection* const r = M::GetReflection();
  if (!r->GetUnknownFields(m).empty()) r->MutableUnknownFields(&m)->Clear();
}

}  // namespace

void Enrich(const ValidatedUpdate& update, iss::telemetry::v1::SignalState signal,
            absl::Time ingest_ts, iss::telemetry::v1::TelemetryEvent* out) {
  // Every field is assigned (or cleared) instead of out->Clear(): Clear()
  // deletes the submessages and so would cost three allocations per event
  // when `out` is reused. The result is the same message.
  ClearUnknownFields(*out);
  out->set_schema_version(kSchemaVersion);
  out->set_item_id(update.item_id);
  ClearUnknownFields(*out->mutable_source_ts());
  ClearUnknownFields(*out->mutable_ingest_ts());
  ClearUnknownFields(*out->mutable_received_ts());
  ToProto(TruncateToMicros(update.source_ts), out->mutable_source_ts());
  ToProto(TruncateToMicros(ingest_ts), out->mutable_ingest_ts());
  // The source's receive time travels with the event: a replay reproduces the
  // live session's (source_ts, received_ts) pairs, whatever its ingest_ts.
  ToProto(TruncateToMicros(update.received_at), out->mutable_received_ts());
  if (update.value) {
    out->set_value(*update.value);
  } else {
    out->clear_value();
  }
  auto* status = out->mutable_status();
  ClearUnknownFields(*status);
  if (update.status_class) {
    status->set_class_(*update.status_class);
  } else {
    status->clear_class_();
  }
  if (update.status_indicator) {
    status->set_indicator(*update.status_indicator);
  } else {
    status->clear_indicator();
  }
  if (update.status_color) {
    status->set_color(*update.status_color);
  } else {
    status->clear_color();
  }
  if (update.calibrated_data) {
    out->set_calibrated_data(*update.calibrated_data);
  } else {
    out->clear_calibrated_data();
  }
  out->set_source(update.source);
  out->set_signal(signal);
  // Last: the id covers the fields above (ComputeEventId ignores the rest).
  // Written in place: the field keeps its capacity when `out` is reused.
  ComputeEventId(*out, out->mutable_event_id());
}

iss::telemetry::v1::TelemetryEvent Enrich(const ValidatedUpdate& update,
                                          iss::telemetry::v1::SignalState signal,
                                          absl::Time ingest_ts) {
  iss::telemetry::v1::TelemetryEvent event;
  Enrich(update, signal, ingest_ts, &event);
  return event;
}

}  // namespace iss::ingest
