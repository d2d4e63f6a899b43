#include "services/ingestion/enricher.h"

#include "common/event_id.h"
#include "common/grpc_util.h"
#include "common/isslive_time.h"

namespace iss::ingest {

void Enrich(const ValidatedUpdate& update, iss::telemetry::v1::SignalState signal,
            absl::Time ingest_ts, iss::telemetry::v1::TelemetryEvent* out) {
  out->Clear();
  out->set_schema_version(kSchemaVersion);
  out->set_item_id(update.item_id);
  ToProto(TruncateToMicros(update.source_ts), out->mutable_source_ts());
  ToProto(TruncateToMicros(ingest_ts), out->mutable_ingest_ts());
  if (update.value) out->set_value(*update.value);
  auto* status = out->mutable_status();
  if (update.status_class) status->set_class_(*update.status_class);
  if (update.status_indicator) status->set_indicator(*update.status_indicator);
  if (update.status_color) status->set_color(*update.status_color);
  if (update.calibrated_data) out->set_calibrated_data(*update.calibrated_data);
  out->set_source(update.source);
  out->set_signal(signal);
  // Last: the id covers the fields above (ComputeEventId ignores the rest).
  out->set_event_id(ComputeEventId(*out));
}

iss::telemetry::v1::TelemetryEvent Enrich(const ValidatedUpdate& update,
                                          iss::telemetry::v1::SignalState signal,
                                          absl::Time ingest_ts) {
  iss::telemetry::v1::TelemetryEvent event;
  Enrich(update, signal, ingest_ts, &event);
  return event;
}

}  // namespace iss::ingest
