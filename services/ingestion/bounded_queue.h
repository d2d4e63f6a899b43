// Owns: the bounded hand-off between the sources (feed client, replay, test
// RPC) and the publisher thread, and with it the pipeline's backpressure.
//
// Capacity is a hard bound on messages (events and dead letters alike):
//   - Push() blocks while the queue is full: the live source stops reading its
//     socket, so a slow or absent broker pauses the feed instead of losing data;
//   - TryPush() refuses with RESOURCE_EXHAUSTED (the test RPC answers that);
//   - nothing is ever dropped: every message is either accepted or refused to
//     its caller.
// Close() wakes everybody: pushes are refused (CANCELLED), pops drain what is
// left and then report the end. Multi-producer, single consumer; thread-safe.
// Exports the gauge iss_ingest_queue_depth (and _capacity).
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/kafka.h"

namespace prometheus {
class Gauge;
class Counter;
}  // namespace prometheus

namespace iss::ingest {

// One message on its way to Kafka, already serialised.
struct Envelope {
  enum class Kind { kEvent, kDeadLetter };
  Kind kind = Kind::kEvent;
  std::string key;    // item id (may be empty for an undecodable dead letter)
  std::string value;  // serialised TelemetryEvent or DeadLetter
  kafka::Headers headers;
  absl::Time accepted_at;  // when the pipeline accepted it (ingest_ts)
};

class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity);

  // Blocks until there is room or the queue is closed. CANCELLED when closed.
  absl::Status Push(Envelope envelope);
  // Never blocks. RESOURCE_EXHAUSTED when full, CANCELLED when closed.
  absl::Status TryPush(Envelope envelope);

  // Moves up to `max` messages into `out` (appended), waiting at most `timeout`
  // for the first and then up to `fill_wait` more until `fill` are there (so
  // the consumer is not woken once per message). Returns false once the
  // queue is closed and empty.
  bool PopBatch(std::vector<Envelope>* out, size_t max, absl::Duration timeout, size_t fill = 1,
                absl::Duration fill_wait = absl::ZeroDuration());

  void Close();
  size_t depth() const;
  size_t capacity() const { return capacity_; }
  // How many Push() calls had to wait for room (backpressure episodes).
  int64_t blocked_pushes() const;

 private:
  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return closed_ || items_.size() < capacity_;
  }
  bool HasItems() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return closed_ || !items_.empty();
  }
  bool Filled() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return closed_ || items_.size() >= fill_target_;
  }
  void Publish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  size_t fill_target_ ABSL_GUARDED_BY(mu_) = 1;

  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<Envelope> items_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  int64_t blocked_pushes_ ABSL_GUARDED_BY(mu_) = 0;
  prometheus::Gauge& depth_gauge_;
  prometheus::Counter& blocked_counter_;
};

}  // namespace iss::ingest
