#include "services/ingestion/tlcp/reconnect_policy.h"

#include <algorithm>

namespace iss::tlcp {

ReconnectPolicy::ReconnectPolicy(Options options, uint64_t seed) : options_(options), rng_(seed) {}

void ReconnectPolicy::OnSuccess() {
  failures_ = 0;
  half_open_ = false;
}

ReconnectPolicy::Decision ReconnectPolicy::OnFailure() {
  ++failures_;
  if (half_open_ || (options_.circuit_failures > 0 && failures_ >= options_.circuit_failures)) {
    half_open_ = true;
    failures_ = 0;
    return {options_.circuit_open_for, true};
  }
  absl::Duration base = options_.initial;
  for (int i = 1; i < failures_ && base < options_.max; ++i) base *= 2;
  base = std::min(base, options_.max);
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return {base * jitter(rng_), false};
}

}  // namespace iss::tlcp
