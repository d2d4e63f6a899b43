// Owns: what the poster tests share: a clock that only moves when told (so
// backoff and rate-limit waits are stepped through and asserted exactly), and
// a detection of the tank with figures a test can vary.
#pragma once

#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/peebot/detector.h"
#include "services/peebot/poster.h"

namespace iss::peebot::testing {

// SleepFor records the wait and advances the time at once. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time t) : now_(t) {}
  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  bool SleepFor(absl::Duration d) override {
    absl::MutexLock lock(&mu_);
    sleeps_.push_back(d);
    now_ += d;
    return true;
  }
  void Cancel() override {}
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }
  std::vector<absl::Duration> sleeps() const {
    absl::MutexLock lock(&mu_);
    return sleeps_;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Duration> sleeps_ ABSL_GUARDED_BY(mu_);
};

// A rise of the urine tank from `from` to `to` percent starting at `start`,
// 25 s long, with its real detection id.
inline Detection TestDetection(absl::Time start, double from = 50, double to = 55) {
  Detection d;
  d.item_id = "NODE3000005";
  d.start_time = start;
  d.end_time = start + absl::Seconds(25);
  d.start_level = from;
  d.end_level = to;
  d.rise = to - from;
  d.volume_ml = d.rise * 82;
  d.detection_id = DetectionId(d.item_id, start);
  return d;
}

}  // namespace iss::peebot::testing
