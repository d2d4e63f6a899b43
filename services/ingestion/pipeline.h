// Owns: the path of one update from a source to the bounded queue:
// validate -> (signal tracking) -> enrich -> serialise -> enqueue, and the
// dead-letter path for whatever fails. Also keeps what the status RPC reports
// about the flow: counters and each item's last update.
//
// Sources call Deliver() (UpdateSink), which blocks while the queue is full:
// that is the backpressure that pauses the feed. The test RPC calls
// IngestTyped(), which never blocks (RESOURCE_EXHAUSTED instead). Invalid
// updates from a source become dead letters (enqueued like events, so they
// are never lost either); invalid test-RPC input is only counted, since its
// caller gets the error. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/ingestion/bounded_queue.h"
#include "services/ingestion/dead_letters.h"
#include "services/ingestion/signal_tracker.h"
#include "services/ingestion/update.h"
#include "services/ingestion/validator.h"

namespace prometheus {
class Counter;
}

namespace iss::ingest {

class Pipeline final : public UpdateSink {
 public:
  struct ItemState {
    std::string item_id;
    absl::Time last_source_ts;
    absl::Time last_received_at;
    std::optional<std::string> last_value;
    uint64_t updates = 0;
  };
  struct Counters {
    uint64_t updates_received = 0;  // everything offered, valid or not
    uint64_t events_enqueued = 0;
    uint64_t events_invalid = 0;
    absl::Time last_update_at = absl::InfinitePast();
  };

  // `queue` and `signal` are not owned and must outlive the pipeline.
  Pipeline(BoundedQueue* queue, SignalTracker* signal);

  // UpdateSink: blocks while the queue is full; false once it is closed.
  bool Deliver(RawUpdate update) override;

  // The test RPC: validates `candidate` (source_ts as an instant), enqueues
  // without blocking and returns the event id. INVALID_ARGUMENT naming the
  // field, RESOURCE_EXHAUSTED when the queue is full.
  absl::StatusOr<std::string> IngestTyped(ValidatedUpdate candidate,
                                          std::optional<absl::Time> source_ts);

  // Input a source could not decode at all (a malformed replay line): counted
  // and dead-lettered. Blocks like Deliver(); false once the queue is closed.
  bool RejectUndecodable(std::string_view detail, std::string_view raw, std::string_view source);

  // Counts and logs a test-RPC rejection found before the pipeline (e.g. an
  // out-of-range protobuf Timestamp), like IngestTyped's own rejections.
  void CountRejected(const absl::Status& status, std::string_view source);

  Counters counters() const;
  // Last update of each requested item ({"*"} = every item seen), sorted by id.
  std::vector<ItemState> Items(const std::vector<std::string>& item_ids) const;
  BoundedQueue* queue() const { return queue_; }
  SignalTracker* signal() const { return signal_; }

 private:
  // Validated -> enriched (ingest_ts = `now`), serialised envelope in `out`
  // (every field set).
  void Accept(const ValidatedUpdate& update, absl::Time now, Envelope* out,
              std::string* event_id = nullptr);
  void Record(const ValidatedUpdate& update);

  BoundedQueue* const queue_;
  SignalTracker* const signal_;
  DeadLetters dead_letters_;
  prometheus::Counter& received_counter_;

  std::atomic<uint64_t> updates_received_{0};
  std::atomic<uint64_t> events_enqueued_{0};
  std::atomic<uint64_t> events_invalid_{0};

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, ItemState> items_ ABSL_GUARDED_BY(mu_);
  absl::Time last_update_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace iss::ingest
