#include "services/peebot/startup.h"

#include <algorithm>

#include "common/log.h"
#include "common/runtime.h"
#include "common/shutdown.h"

namespace iss::peebot {

bool WaitForDatabase(Store& store) {
  absl::Duration backoff = absl::Milliseconds(200);
  for (;;) {
    absl::Status s = store.Ping();
    if (s.ok()) return true;
    log::Warn("database not reachable yet", {{"error", s.ToString()}});
    if (WaitForShutdownFor(backoff)) return false;
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

PeeBotSettings StartupSettings(Store& store, PeeBotSettings configured) {
  auto stored = store.LoadSettings();
  if (!stored.ok()) {
    Fail("cannot read settings (schema missing? set ISS_PEEBOT_MIGRATE=true)", stored.status());
  }
  if (!*stored) return configured;
  auto s = FromJson(**stored, configured);
  if (!s.ok()) {
    log::Warn("stored settings ignored", {{"error", s.status().ToString()}});
    return configured;
  }
  log::Info("using settings stored by an admin", {{"settings", ToJson(*s)}});
  return *s;
}

}  // namespace iss::peebot
