// Owns: the in-process fan-out of committed events to live Tail streams.
//
// The sink publishes each batch right after its transaction commits; every
// subscriber has its own bounded buffer. A subscriber that falls more than
// `buffer` events behind is dropped (its stream ends with RESOURCE_EXHAUSTED)
// instead of making the sink wait: the sink never blocks on a reader.
//
// Scope: a replica tails what *it* committed. With several replicas in one
// consumer group each sees only its partitions' items, so a client wanting
// every item tails every replica (or uses one replica per deployment).
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "iss/telemetry/v1/telemetry.pb.h"

namespace iss::storage {

using EventPtr = std::shared_ptr<const iss::telemetry::v1::TelemetryEvent>;

class TailHub {
 public:
  class Subscription;

  explicit TailHub(size_t buffer_per_subscriber = 10000) : buffer_(buffer_per_subscriber) {}
  ~TailHub();

  // Empty `item_ids` = every item. The subscription unregisters on destruction.
  std::unique_ptr<Subscription> Subscribe(const std::vector<std::string>& item_ids);

  // Called by the sink after commit. Never blocks on subscribers.
  void Publish(const std::vector<EventPtr>& events);

  // Ends every subscription (shutdown); later Subscribe() calls get closed ones.
  void Close();

  size_t subscribers() const;
  uint64_t dropped() const;

 private:
  friend class Subscription;
  void Remove(Subscription* sub);

  const size_t buffer_;
  mutable absl::Mutex mu_;
  std::list<Subscription*> subs_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

class TailHub::Subscription {
 public:
  enum class State { kOpen, kDropped, kClosed };

  ~Subscription();

  // Moves every buffered event into `out` (appending), waiting up to `timeout`
  // for the first. Returns the state: kDropped/kClosed end the stream (events
  // still buffered are returned first only while kOpen).
  State Next(std::vector<EventPtr>* out, absl::Duration timeout);

 private:
  friend class TailHub;
  Subscription(TailHub* hub, std::vector<std::string> item_ids, size_t capacity);
  bool Wants(const std::string& item_id) const;
  // Overflow clears the buffer and marks the subscription dropped.
  void Push(const EventPtr& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  TailHub* hub_;
  const absl::flat_hash_set<std::string> items_;
  const size_t capacity_;
  absl::Mutex mu_;
  std::deque<EventPtr> queue_ ABSL_GUARDED_BY(mu_);
  State state_ ABSL_GUARDED_BY(mu_) = State::kOpen;
};

}  // namespace iss::storage
