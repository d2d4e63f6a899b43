// Owns: the posting side of iss-peebot as configured: one client per network
// (X, Bluesky, Mastodon, webhook), a poster per destination with its own
// database connection, and the loop that runs each. main() builds it in two
// steps: the clients first (a bad URL or secret fails before the database is
// awaited), the posters once the run-time settings are loaded.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/health.h"
#include "services/peebot/config.h"
#include "services/peebot/destinations.h"
#include "services/peebot/poster.h"
#include "services/peebot/store.h"

namespace iss::peebot {

// The clients of the configured destinations; null where a destination has
// no credentials (it dry-runs).
struct NetworkClients {
  std::unique_ptr<XClient> x;
  std::unique_ptr<BlueskyClient> bluesky;
  std::unique_ptr<MastodonClient> mastodon;
  std::unique_ptr<WebhookClient> webhook;
};

// INVALID_ARGUMENT naming the network whose URL or secret is unusable.
absl::StatusOr<NetworkClients> CreateNetworkClients(const PeeBotConfig& config);

class Posters {
 public:
  // Declares one health check per destination ("x_api", "bluesky_api", ...);
  // none is required for readiness: detections are recorded while a network
  // is unwell.
  Posters(const PeeBotConfig& config, NetworkClients clients, RuntimeSettings* settings,
          Health* health);
  ~Posters();  // Stop()

  void Start();
  // Wakes every poster now (a new detection, changed settings).
  void Notify();
  // A post waiting on backoff stays pending (in flight if sent).
  void Stop();

  Poster* x() { return x_poster_.get(); }
  std::vector<DestinationPoster*> destinations() const;

 private:
  void AddDestination(const PeeBotConfig& config, const std::string& name,
                      std::unique_ptr<Network> network, const DestinationConfig& destination,
                      Health* health);

  NetworkClients clients_;
  RuntimeSettings* const settings_;
  RealClock clock_;
  std::vector<std::unique_ptr<Store>> stores_;
  std::unique_ptr<Poster> x_poster_;
  std::vector<std::unique_ptr<Network>> networks_;
  std::vector<std::unique_ptr<DestinationPoster>> destination_posters_;
  std::vector<std::unique_ptr<PosterLoop>> loops_;  // X's (if listed) first
};

}  // namespace iss::peebot
