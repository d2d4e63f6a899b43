// Owns: the cap on concurrent SSE streams, in total and per client address.
// Each stream holds a socket and an upstream call for as long as its client
// likes, so their number is bounded: beyond the total 503, beyond the
// per-client allowance 429 (the connection decides the answer).
#pragma once

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/gauge.h"

namespace iss::gateway {

class StreamSlots {
 public:
  enum class Grant { kGranted, kClientFull, kServerFull };

  // `open` (not owned) follows the number of streams held.
  StreamSlots(int max_total, int max_per_client, prometheus::Gauge* open)
      : max_total_(max_total), max_per_client_(max_per_client), open_(open) {}

  Grant Acquire(const std::string& client) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (auto it = by_client_.find(client);
        it != by_client_.end() && it->second >= max_per_client_) {
      return Grant::kClientFull;
    }
    if (total_ >= max_total_) return Grant::kServerFull;
    ++by_client_[client];
    ++total_;
    open_->Increment();
    return Grant::kGranted;
  }
  // Gives back a slot Acquire granted to `client`.
  void Release(const std::string& client) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    --total_;
    open_->Decrement();
    if (auto it = by_client_.find(client); it != by_client_.end() && --it->second <= 0) {
      by_client_.erase(it);
    }
  }
  int max_total() const { return max_total_; }
  int max_per_client() const { return max_per_client_; }

 private:
  const int max_total_;
  const int max_per_client_;
  prometheus::Gauge* const open_;
  absl::Mutex mu_;
  int total_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, int> by_client_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iss::gateway
