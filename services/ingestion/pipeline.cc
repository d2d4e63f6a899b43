#include "services/ingestion/pipeline.h"

#include <algorithm>

#include "common/catalog.h"
#include "common/metrics.h"
#include "services/ingestion/enricher.h"
#include "services/ingestion/replay.h"

namespace iss::ingest {

Pipeline::Pipeline(BoundedQueue* queue, SignalTracker* signal)
    : queue_(queue),
      signal_(signal),
      received_counter_(
          iss::metrics::Counter("iss_ingest_updates_received_total",
                                "Updates offered to the pipeline by any source, valid or not")) {}

void Pipeline::Accept(const ValidatedUpdate& update, absl::Time now, Envelope* out,
                      std::string* event_id) {
  // TIME_000001 first moves the signal state, so it carries the new state.
  if (update.item_id == kTimeItem) {
    signal_->Observe(update.status_class, update.source_ts, update.received_at);
  }
  const SignalState signal = signal_->State(update.received_at).state;
  thread_local iss::telemetry::v1::TelemetryEvent event;
  Enrich(update, signal, now, &event);
  // Every field of `out` is set: it may be a recycled envelope.
  out->kind = Envelope::Kind::kEvent;
  out->key.assign(update.item_id);
  event.SerializeToString(&out->value);  // reuses the buffer's capacity
  out->headers.clear();
  out->accepted_at = now;
  if (event_id != nullptr) *event_id = event.event_id();
}

void Pipeline::Record(const ValidatedUpdate& update) {
  events_enqueued_.fetch_add(1, std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  last_update_at_ = std::max(last_update_at_, update.received_at);
  ItemState& s = items_[update.item_id];
  if (s.updates == 0) s.item_id = update.item_id;
  s.last_source_ts = update.source_ts;
  s.last_received_at = update.received_at;
  s.last_value = update.value;
  ++s.updates;
}

bool Pipeline::Deliver(RawUpdate update) {
  updates_received_.fetch_add(1, std::memory_order_relaxed);
  received_counter_.Increment();
  // One clock read: the validator judges the time range by it (as storage
  // will, later) and it becomes the event's ingest_ts.
  const absl::Time now = absl::Now();
  // Moves the fields only if valid: the dead-letter path below still has them.
  absl::StatusOr<ValidatedUpdate> valid = Validate(std::move(update), now);
  if (!valid.ok()) {
    {
      absl::MutexLock lock(&mu_);
      last_update_at_ = std::max(last_update_at_, update.received_at);
    }
    events_invalid_.fetch_add(1, std::memory_order_relaxed);
    const std::string raw = update.raw.empty() ? FormatReplayLine(update) : update.raw;
    // A std::string: the ternary of std::string and "" yields a temporary.
    const std::string key = IsValidItemId(update.item_id) ? update.item_id : std::string();
    return queue_
        ->Push(dead_letters_.Reject(RejectReason(valid.status()),
                                    std::string(valid.status().message()), raw, key, update.source,
                                    now))
        .ok();
  }
  // Enqueue first, record after: the status shows only what the queue took.
  // One envelope per source thread, swapped for a recycled one on each push.
  thread_local Envelope envelope;
  Accept(*valid, now, &envelope);
  if (!queue_->Push(&envelope).ok()) return false;
  Record(*valid);
  return true;
}

absl::StatusOr<std::string> Pipeline::IngestTyped(ValidatedUpdate candidate,
                                                  std::optional<absl::Time> source_ts) {
  updates_received_.fetch_add(1, std::memory_order_relaxed);
  received_counter_.Increment();
  const absl::Time now = absl::Now();
  absl::StatusOr<ValidatedUpdate> valid = ValidateTyped(std::move(candidate), source_ts, now);
  if (!valid.ok()) {
    events_invalid_.fetch_add(1, std::memory_order_relaxed);
    dead_letters_.CountOnly(RejectReason(valid.status()), std::string(valid.status().message()),
                            "test-ingest", now);
    return valid.status();
  }
  std::string event_id;
  Envelope e;
  Accept(*valid, now, &e, &event_id);
  if (absl::Status s = queue_->TryPush(std::move(e)); !s.ok()) return s;
  Record(*valid);
  return event_id;
}

bool Pipeline::RejectUndecodable(std::string_view detail, std::string_view raw,
                                 std::string_view source) {
  updates_received_.fetch_add(1, std::memory_order_relaxed);
  received_counter_.Increment();
  events_invalid_.fetch_add(1, std::memory_order_relaxed);
  return queue_->Push(dead_letters_.Reject(kUndecodable, detail, raw, "", source, absl::Now()))
      .ok();
}

void Pipeline::CountRejected(const absl::Status& status, std::string_view source) {
  updates_received_.fetch_add(1, std::memory_order_relaxed);
  received_counter_.Increment();
  events_invalid_.fetch_add(1, std::memory_order_relaxed);
  dead_letters_.CountOnly(RejectReason(status), std::string(status.message()), source, absl::Now());
}

Pipeline::Counters Pipeline::counters() const {
  Counters c;
  c.updates_received = updates_received_.load();
  c.events_enqueued = events_enqueued_.load();
  c.events_invalid = events_invalid_.load();
  absl::MutexLock lock(&mu_);
  c.last_update_at = last_update_at_;
  return c;
}

std::vector<Pipeline::ItemState> Pipeline::Items(const std::vector<std::string>& ids) const {
  std::vector<ItemState> out;
  {
    absl::MutexLock lock(&mu_);
    const bool all = std::find(ids.begin(), ids.end(), "*") != ids.end();
    if (all) {
      for (const auto& [id, s] : items_) out.push_back(s);
    } else {
      for (const std::string& id : ids) {
        if (auto it = items_.find(id); it != items_.end()) out.push_back(it->second);
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const ItemState& a, const ItemState& b) { return a.item_id < b.item_id; });
  return out;
}

}  // namespace iss::ingest
