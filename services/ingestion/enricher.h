// Owns: turning a validated update into the TelemetryEvent that goes on the
// bus: source_ts truncated to microseconds, ingest_ts, received_ts (the
// update's received_at: when its source received it), schema_version,
// source, the signal state at acceptance, and the deterministic event_id
// (iss::ComputeEventId, common/event_id.h). Pure: same inputs, same event.
#pragma once

#include "absl/time/time.h"
#include "iss/telemetry/v1/telemetry.pb.h"
#include "services/ingestion/validator.h"

namespace iss::ingest {

inline constexpr uint32_t kSchemaVersion = 1;

// `ingest_ts` and received_ts are truncated to microseconds as well. `out` is overwritten
// (reuse one event per thread to save allocations on the hot path).
void Enrich(const ValidatedUpdate& update, iss::telemetry::v1::SignalState signal,
            absl::Time ingest_ts, iss::telemetry::v1::TelemetryEvent* out);

iss::telemetry::v1::TelemetryEvent Enrich(const ValidatedUpdate& update,
                                          iss::telemetry::v1::SignalState signal,
                                          absl::Time ingest_ts);

}  // namespace iss::ingest
