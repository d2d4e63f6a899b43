#include "common/runtime.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/metrics.h"

namespace iss {

void ConfigureServiceRuntime() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

void Fail(std::string_view what, const absl::Status& status) {
  // The message alone reads best for a configuration error; the code is kept apart.
  log::Error(what, {{"error", std::string(status.message())},
                    {"code", absl::StatusCodeToString(status.code())}});
  std::exit(1);
}

size_t MemoryReleaser::FreeHeapBytes() { return mallinfo2().fordblks; }

size_t MemoryReleaser::ResidentBytes() {
  std::ifstream in("/proc/self/statm");
  size_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}

MemoryReleaser::MemoryReleaser(Options options)
    : options_(options), resident_mark_(ResidentBytes()) {}

bool MemoryReleaser::ReleaseIfWorthIt() {
  const size_t resident = ResidentBytes();
  if (resident < resident_mark_ + options_.min_free_bytes) {
    // Shrank (trimmed by malloc itself, or freed mmapped blocks): follow it
    // down, so growing again from there counts.
    resident_mark_ = std::min(resident_mark_, resident);
    return false;
  }
  const size_t free_bytes = FreeHeapBytes();
  if (free_bytes < options_.min_free_bytes) return false;  // grew, but in use
  const absl::Time t0 = absl::Now();
  malloc_trim(0);
  const absl::Duration took = absl::Now() - t0;
  resident_mark_ = ResidentBytes();
  metrics::Counter("iss_memory_trims_total",
                   "Times freed heap memory was given back to the OS (malloc_trim).")
      .Increment();
  log::Info("freed heap memory returned to the OS",
            {{"free_heap_bytes", static_cast<int64_t>(free_bytes)},
             {"resident_bytes_before", static_cast<int64_t>(resident)},
             {"resident_bytes_after", static_cast<int64_t>(resident_mark_)},
             {"took_ms", absl::ToDoubleMilliseconds(took)}});
  return true;
}

std::unique_ptr<MemoryReleaser> MemoryReleaser::Start(Options options) {
  auto r = std::make_unique<MemoryReleaser>(options);
  MemoryReleaser* self = r.get();
  r->thread_ = std::thread([self] {
    while (!self->stop_.WaitForNotificationWithTimeout(self->options_.period)) {
      self->ReleaseIfWorthIt();
    }
  });
  return r;
}

MemoryReleaser::~MemoryReleaser() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

}  // namespace iss
