#include "common/shutdown.h"

#include <pthread.h>

#include <atomic>
#include <csignal>
#include <thread>

#include "absl/synchronization/notification.h"

namespace iss {
namespace {

absl::Notification* Stop() {
  static auto* n = new absl::Notification();
  return n;
}

// A signal handler may only do async-signal-safe work, so a dedicated thread
// waits for the signals with sigwait() and turns them into the notification.
void WatchSignals(sigset_t set) {
  int sig = 0;
  sigwait(&set, &sig);
  RequestShutdown();
}

}  // namespace

void InstallShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  // Blocked in this thread before any other starts, so every thread inherits it.
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  std::thread(WatchSignals, set).detach();
}

void WaitForShutdown() { Stop()->WaitForNotification(); }

bool WaitForShutdownFor(absl::Duration timeout) {
  return Stop()->WaitForNotificationWithTimeout(timeout);
}

void RequestShutdown() {
  // Notify() may be called once only; several components may ask to stop.
  static std::atomic<bool> requested{false};
  if (!requested.exchange(true)) Stop()->Notify();
}

bool ShutdownRequested() { return Stop()->HasBeenNotified(); }

}  // namespace iss
