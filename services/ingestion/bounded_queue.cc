#include "services/ingestion/bounded_queue.h"

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

void BoundedQueue::Publish() { depth_gauge_.Set(static_cast<double>(items_.size())); }

absl::Status BoundedQueue::Push(Envelope envelope) {
  absl::MutexLock lock(&mu_);
  if (!HasRoom()) {
    ++blocked_pushes_;
    blocked_counter_.Increment();
    mu_.Await(absl::Condition(this, &BoundedQueue::HasRoom));
  }
  if (closed_) return absl::CancelledError("ingestion queue closed");
  items_.push_back(std::move(envelope));
  Publish();
  return absl::OkStatus();
}

absl::Status BoundedQueue::TryPush(Envelope envelope) {
  absl::MutexLock lock(&mu_);
  if (closed_) return absl::CancelledError("ingestion queue closed");
  if (items_.size() >= capacity_) {
    return absl::ResourceExhaustedError("ingestion queue is full; retry later");
  }
  items_.push_back(std::move(envelope));
  Publish();
  return absl::OkStatus();
}

bool BoundedQueue::PopBatch(std::vector<Envelope>* out, size_t max, absl::Duration timeout,
                            size_t fill, absl::Duration fill_wait) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(this, &BoundedQueue::HasItems), timeout);
  if (items_.empty()) return !closed_;
  fill_target_ = std::min(fill, capacity_);
  if (items_.size() < fill_target_ && fill_wait > absl::ZeroDuration()) {
    mu_.AwaitWithTimeout(absl::Condition(this, &BoundedQueue::Filled), fill_wait);
  }
  const size_t n = std::min(max, items_.size());
  for (size_t i = 0; i < n; ++i) {
    out->push_back(std::move(items_.front()));
    items_.pop_front();
  }
  Publish();
  return true;
}

void BoundedQueue::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

size_t BoundedQueue::depth() const {
  absl::MutexLock lock(&mu_);
  return items_.size();
}

int64_t BoundedQueue::blocked_pushes() const {
  absl::MutexLock lock(&mu_);
  return blocked_pushes_;
}

}  // namespace iss::ingest
