#include "gateway/rate_limiter.h"

#include <algorithm>

namespace iss::gateway {

RateLimiter::RateLimiter(double rate_per_second, double burst, size_t max_clients)
    : rate_(rate_per_second), burst_(std::max(1.0, burst)), max_clients_(max_clients) {}

bool RateLimiter::Allow(const std::string& client, absl::Time now) {
  if (rate_ <= 0) return true;
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = buckets_.try_emplace(client, Bucket{burst_, now});
  Bucket& b = it->second;
  if (!inserted) {
    b.tokens = std::min(burst_, b.tokens + absl::ToDoubleSeconds(now - b.updated) * rate_);
    b.updated = now;
  }
  if (inserted && buckets_.size() > max_clients_) Sweep(now);
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

void RateLimiter::Sweep(absl::Time now) {
  // A bucket that would be full again carries no information: forget it.
  const absl::Duration refill = absl::Seconds(burst_ / rate_);
  absl::erase_if(buckets_, [&](const auto& kv) { return now - kv.second.updated >= refill; });
}

}  // namespace iss::gateway
