// Tests never sleep to wait: they poll a condition until a deadline.
#pragma once

#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace iss::testing {

// Polls `pred` every `every` until it is true (returns true) or `timeout`
// passes (returns false).
template <typename Pred>
bool WaitFor(Pred&& pred, absl::Duration timeout = absl::Seconds(10),
             absl::Duration every = absl::Milliseconds(5)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!pred()) {
    if (absl::Now() >= deadline) return pred();
    absl::SleepFor(every);
  }
  return true;
}

}  // namespace iss::testing
