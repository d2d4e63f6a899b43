#include "services/ingestion/bounded_queue.h"

#include <algorithm>
#include <utility>

#include "common/metrics.h"

namespace iss::ingest {

BoundedQueue::BoundedQueue(size_t capacity)
    : capacity_(capacity == 0 ? 1 : capacity),
      depth_gauge_(iss::metrics::Gauge("iss_ingest_queue_depth",
                                       "Messages waiting between validation and publish")),
      blocked_counter_(iss::metrics::Counter(
          "iss_ingest_queue_blocked_pushes_total",
          "Times a source had to wait because the bounded queue was full (backpressure)")) {
  iss::metrics::Gauge("iss_ingest_queue_capacity", "Bound of the ingestion queue (messages)")
      .Set(static_cast<double>(capacity_));
}

namespace {

// A recycled envelope keeps its buffers, unless one grew large (a long dead
// letter): that memory goes back rather than sitting in the ring.
constexpr size_t kMaxKeptBytes = 4096;

void Trim(Envelope& e) {
  if (e.value.capacity() > kMaxKeptBytes) std::string().swap(e.value);
  if (e.key.capacity() > kMaxKeptBytes) std::string().swap(e.key);
  if (!e.headers.empty()) e.headers.clear();
}

}  // namespace

void BoundedQueue::Publish() { depth_gauge_.Set(static_cast<double>(size_)); }

Envelope& BoundedQueue::Tail() {
  if (size_ == ring_.size()) {
    // Full ring (but below capacity, see HasRoom): grow, oldest first.
    const size_t grown = std::min(capacity_, std::max<size_t>(64, ring_.size() * 2));
    std::vector<Envelope> next(grown);
    for (size_t i = 0; i < size_; ++i) {
      std::swap(next[i], ring_[(head_ + i) % ring_.size()]);
    }
    ring_.swap(next);
    head_ = 0;
  }
  const size_t tail = head_ + size_;
  return ring_[tail < ring_.size() ? tail : tail - ring_.size()];
}

absl::Status BoundedQueue::WaitForRoom() {
  if (!HasRoom()) {
    ++blocked_pushes_;
    blocked_counter_.Increment();
    mu_.Await(absl::Condition(this, &BoundedQueue::HasRoom));
  }
  if (closed_) return absl::CancelledError("ingestion queue closed");
  return absl::OkStatus();
}

absl::Status BoundedQueue::Push(Envelope envelope) { return Push(&envelope); }

absl::Status BoundedQueue::Push(Envelope* envelope) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = WaitForRoom(); !s.ok()) return s;
  Envelope& slot = Tail();
  std::swap(slot, *envelope);
  ++size_;
  Trim(*envelope);
  Publish();
  return absl::OkStatus();
}

absl::Status BoundedQueue::TryPush(Envelope envelope) {
  absl::MutexLock lock(&mu_);
  if (closed_) return absl::CancelledError("ingestion queue closed");
  if (size_ >= capacity_) {
    return absl::ResourceExhaustedError("ingestion queue is full; retry later");
  }
  std::swap(Tail(), envelope);
  ++size_;
  Publish();
  return absl::OkStatus();
}

size_t BoundedQueue::WaitForMessages(size_t max, absl::Duration timeout, size_t fill,
                                     absl::Duration fill_wait) {
  mu_.AwaitWithTimeout(absl::Condition(this, &BoundedQueue::HasItems), timeout);
  if (size_ == 0) return 0;
  fill_target_ = std::min(fill, capacity_);
  if (size_ < fill_target_ && fill_wait > absl::ZeroDuration()) {
    mu_.AwaitWithTimeout(absl::Condition(this, &BoundedQueue::Filled), fill_wait);
  }
  return std::min(max, size_);
}

bool BoundedQueue::PopBatch(std::vector<Envelope>* out, size_t max, absl::Duration timeout,
                            size_t fill, absl::Duration fill_wait) {
  absl::MutexLock lock(&mu_);
  const size_t n = WaitForMessages(max, timeout, fill, fill_wait);
  if (n == 0) return !closed_;
  for (size_t i = 0; i < n; ++i) {
    out->push_back(std::move(Head()));
    DropHead();
  }
  Publish();
  return true;
}

bool BoundedQueue::TakeBatch(std::vector<Envelope>* batch, size_t max, absl::Duration timeout,
                             size_t fill, absl::Duration fill_wait) {
  // Grown outside the lock; only ever to the largest batch seen.
  if (batch->size() < max && batch->capacity() < max) batch->reserve(max);
  absl::MutexLock lock(&mu_);
  const size_t n = WaitForMessages(max, timeout, fill, fill_wait);
  if (n == 0) {
    batch->clear();
    return !closed_;
  }
  if (batch->size() < n) batch->resize(n);
  // The spent envelopes go into the freed slots (which come after the tail,
  // so they are the next to be pushed into).
  for (size_t i = 0; i < n; ++i) {
    std::swap((*batch)[i], Head());
    Trim(Head());
    DropHead();
  }
  batch->resize(n);
  Publish();
  return true;
}

void BoundedQueue::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

size_t BoundedQueue::depth() const {
  absl::MutexLock lock(&mu_);
  return size_;
}

int64_t BoundedQueue::blocked_pushes() const {
  absl::MutexLock lock(&mu_);
  return blocked_pushes_;
}

}  // namespace iss::ingest
