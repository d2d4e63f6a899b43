// Owns: process-wide runtime settings that every long-running service binary
// applies first thing in main(). Tests do not call it, so they keep the
// debugging aids on.
#pragma once

namespace iss {

// Turns off Abseil's mutex deadlock detection. Debian builds Abseil without
// NDEBUG, so by default every absl::Mutex acquisition also updates the
// process-wide deadlock graph (a global lock and a hash lookup): about 1 us of
// CPU per event across the ingestion pipeline's threads, measured with perf.
void ConfigureServiceRuntime();

}  // namespace iss
