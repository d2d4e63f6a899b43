// Owns: when to try connecting again after a connection failed or ended:
// exponential backoff with jitter, and a circuit breaker that stops retrying
// for a while after too many consecutive failures (so an outage upstream does
// not turn into a reconnect storm). Pure logic; the Client asks it.
#pragma once

#include <cstdint>
#include <random>

#include "absl/time/time.h"

namespace iss::tlcp {

class ReconnectPolicy {
 public:
  struct Options {
    absl::Duration initial = absl::Milliseconds(500);
    absl::Duration max = absl::Seconds(30);
    int circuit_failures = 8;  // consecutive failures that open the circuit
    absl::Duration circuit_open_for = absl::Seconds(60);
  };
  struct Decision {
    absl::Duration wait;
    bool circuit_open = false;  // the wait is the circuit's open period
  };

  ReconnectPolicy(Options options, uint64_t seed);

  // A connection worked (session established and data flowed): start over.
  void OnSuccess();
  // A connection attempt failed or a session ended badly: how long to wait.
  // Backoff n (1-based) waits a uniformly random time in [b/2, b] where
  // b = min(max, initial * 2^(n-1)). The circuit_failures-th consecutive
  // failure opens the circuit for circuit_open_for; the first attempt after
  // that is a probe: if it fails too, the circuit opens again at once.
  Decision OnFailure();

  int consecutive_failures() const { return failures_; }

 private:
  const Options options_;
  std::mt19937_64 rng_;
  int failures_ = 0;
  bool half_open_ = false;
};

}  // namespace iss::tlcp
