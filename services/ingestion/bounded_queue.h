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
//
// Storage is a ring of Envelopes that grows up to the capacity as needed. On
// the hot path nothing is allocated per message: Push(Envelope*) swaps the
// message into a slot and hands the caller that slot's previous (consumed)
// envelope, whose strings keep their capacity for the next message, and
// TakeBatch() swaps messages out against the consumer's spent ones. (A batch
// smaller than the last one, or a timeout, frees the spare spent envelopes, so
// after a lull the first messages allocate again: memory follows the load.)
#pragma once

#include <cstddef>
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
  // The same, without allocating: on success `*envelope` is swapped into the
  // queue and what is left in it is a recycled envelope with unspecified
  // contents (overwrite every field before reusing it). Untouched on error.
  absl::Status Push(Envelope* envelope);
  // Never blocks. RESOURCE_EXHAUSTED when full, CANCELLED when closed.
  absl::Status TryPush(Envelope envelope);

  // Moves up to `max` messages into `out` (appended), waiting at most `timeout`
  // for the first and then up to `fill_wait` more until `fill` are there (so
  // the consumer is not woken once per message). Returns false once the
  // queue is closed and empty.
  bool PopBatch(std::vector<Envelope>* out, size_t max, absl::Duration timeout, size_t fill = 1,
                absl::Duration fill_wait = absl::ZeroDuration());
  // Like PopBatch, but `batch` is resized to the messages taken (0 after a
  // timeout) and its previous elements go back to the queue for reuse, so a
  // consumer that keeps one vector allocates nothing per message.
  bool TakeBatch(std::vector<Envelope>* batch, size_t max, absl::Duration timeout, size_t fill = 1,
                 absl::Duration fill_wait = absl::ZeroDuration());

  void Close();
  size_t depth() const;
  size_t capacity() const { return capacity_; }
  // How many Push() calls had to wait for room (backpressure episodes).
  int64_t blocked_pushes() const;

 private:
  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_ || size_ < capacity_; }
  bool HasItems() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_ || size_ > 0; }
  bool Filled() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return closed_ || size_ >= fill_target_;
  }
  void Publish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Waits for room (Push) / for messages (the pops); false = closed / none.
  absl::Status WaitForRoom() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  size_t WaitForMessages(size_t max, absl::Duration timeout, size_t fill, absl::Duration fill_wait)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The slot the next message goes to (growing the ring if it is full).
  Envelope& Tail() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Envelope& Head() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ring_[head_]; }
  void DropHead() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    head_ = head_ + 1 == ring_.size() ? 0 : head_ + 1;
    --size_;
  }
  size_t fill_target_ ABSL_GUARDED_BY(mu_) = 1;

  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::vector<Envelope> ring_ ABSL_GUARDED_BY(mu_);  // [head_, head_ + size_) in use
  size_t head_ ABSL_GUARDED_BY(mu_) = 0;
  size_t size_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  int64_t blocked_pushes_ ABSL_GUARDED_BY(mu_) = 0;
  prometheus::Gauge& depth_gauge_;
  prometheus::Counter& blocked_counter_;
};

}  // namespace iss::ingest
