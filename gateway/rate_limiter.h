// Owns: the per-client token buckets behind the gateway's 429s. Each client
// key (the peer IP) gets `burst` tokens refilled at `rate` per second; the
// table is bounded: idle, full buckets are dropped when it grows too large.
#pragma once

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace iss::gateway {

class RateLimiter {
 public:
  // rate <= 0 disables limiting. burst < 1 is taken as 1.
  RateLimiter(double rate_per_second, double burst, size_t max_clients = 10000);

  // True when `client` may make a request now (and takes one token).
  bool Allow(const std::string& client, absl::Time now = absl::Now());
  bool enabled() const { return rate_ > 0; }

 private:
  struct Bucket {
    double tokens;
    absl::Time updated;
  };
  void Sweep(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const double rate_;
  const double burst_;
  const size_t max_clients_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iss::gateway
