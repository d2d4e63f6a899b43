// The two start-up waits of iss-peebot that main.cc reads as one line each:
// the database (it may come up after us) and the settings to start with (an
// admin's stored settings outlive restarts and win over the configured ones).
#ifndef ISS_SERVICES_PEEBOT_STARTUP_H_
#define ISS_SERVICES_PEEBOT_STARTUP_H_

#include "services/peebot/settings.h"
#include "services/peebot/store.h"

namespace iss::peebot {

// Retries `store.Ping()` with backoff until it answers (true) or shutdown is
// requested (false).
bool WaitForDatabase(Store& store);

// The configured settings, unless an admin stored others. Exits through
// iss::Fail when the settings table cannot be read (schema missing).
PeeBotSettings StartupSettings(Store& store, PeeBotSettings configured);

}  // namespace iss::peebot

#endif  // ISS_SERVICES_PEEBOT_STARTUP_H_
