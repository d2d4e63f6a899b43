// Owns: process-wide runtime settings that every long-running service binary
// applies first thing in main(), and giving freed heap memory back to the OS.
// Tests do not call ConfigureServiceRuntime, so they keep the debugging aids on.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace iss {

// Turns off Abseil's mutex deadlock detection. Debian builds Abseil without
// NDEBUG, so by default every absl::Mutex acquisition also updates the
// process-wide deadlock graph (a global lock and a hash lookup): about 1 us of
// CPU per event across the ingestion pipeline's threads, measured with perf.
void ConfigureServiceRuntime();

// A service cannot start: logs `what` with the error as one JSON line and
// exits 1 (configuration errors exit 2 earlier, from EnvConfig).
[[noreturn]] void Fail(std::string_view what, const absl::Status& status);

// Returns heap memory that glibc's malloc holds free to the OS. malloc keeps
// what is freed in its arenas (one per allocating thread, up to 8 per core)
// and gives back only a free stretch at the top of a heap: after a burst of
// big requests parsed on many gRPC threads, the freed pieces sit between live
// ones and the process keeps the burst's peak (iss-storage kept 471 MiB after
// two rounds of six 15 MiB requests; docs/reliability.md). malloc_trim(0)
// returns the free pages inside the heaps too, but it locks each arena while
// it walks it, so a thread runs it only when it can return much: malloc holds
// at least `min_free_bytes` free and the process grew by as much since the
// last trim (once trimmed, free memory stays free but is no longer resident,
// so trimming again before the process grows would return nothing).
class MemoryReleaser {
 public:
  struct Options {
    absl::Duration period = absl::Seconds(5);
    size_t min_free_bytes = size_t{32} << 20;
  };
  // A thread that calls ReleaseIfWorthIt() every period.
  static std::unique_ptr<MemoryReleaser> Start(Options options);
  // No thread (tests call ReleaseIfWorthIt themselves); the growth mark is
  // the resident size now.
  explicit MemoryReleaser(Options options);
  ~MemoryReleaser();  // stops the thread

  // One check: malloc_trim(0) when it is worth it (see above). True when it
  // trimmed. Called by one thread at a time.
  bool ReleaseIfWorthIt();
  // Bytes malloc holds free in its arenas (mallinfo2().fordblks).
  static size_t FreeHeapBytes();
  // Resident size of the process (/proc/self/statm).
  static size_t ResidentBytes();

 private:
  const Options options_;
  size_t resident_mark_;  // after the last trim, or at start
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace iss
