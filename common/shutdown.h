// Owns: turning SIGTERM/SIGINT into an orderly stop. Call InstallShutdownSignals()
// first thing in main(); WaitForShutdown() blocks the main thread until a
// signal arrives (or RequestShutdown() is called, e.g. from a fatal component).
#pragma once

#include "absl/time/time.h"

namespace iss {

void InstallShutdownSignals();
void WaitForShutdown();
// Waits at most `timeout`; true if shutdown was requested.
bool WaitForShutdownFor(absl::Duration timeout);
void RequestShutdown();
bool ShutdownRequested();

}  // namespace iss
