// Owns: iss-peebot's configuration: every setting declared once (name,
// range, help; the default is the field's value in the options struct it
// fills), read from the environment at start-up, with the rules across
// settings (credentials all or none, a destination needs what it posts with).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "services/peebot/bluesky_client.h"
#include "services/peebot/mastodon_client.h"
#include "services/peebot/pipeline.h"
#include "services/peebot/settings.h"
#include "services/peebot/webhook_client.h"
#include "services/peebot/x_client.h"

namespace iss::peebot {

// What every network beside X adds to its client's options.
struct DestinationConfig {
  bool dry_run = false;
  int64_t daily_cap = -1;  // -1 = the shared daily cap
};

struct PeeBotConfig {
  PeeBotConfig();
  std::string dsn;  // required
  PipelineOptions pipeline;
  absl::Duration session_timeout = absl::Seconds(45);  // consumer group
  // The start-up settings; an admin's stored settings override them.
  PeeBotSettings settings;
  // Shared by the pipeline and every poster.
  absl::Duration max_post_age = absl::Minutes(10);
  std::string destinations_list;          // as configured
  std::vector<std::string> destinations;  // parsed: x, bluesky, mastodon, webhook
  XClientOptions x;
  bool x_dry_run = false;
  absl::Duration network_timeout = absl::Seconds(10);  // Bluesky, Mastodon, webhook calls
  BlueskyOptions bluesky;
  DestinationConfig bluesky_destination;
  MastodonOptions mastodon;
  std::string mastodon_visibility = "public";
  DestinationConfig mastodon_destination;
  WebhookOptions webhook;
  std::string webhook_secrets;  // space- or comma-separated, parsed into webhook.secrets
  DestinationConfig webhook_destination;
  std::string grpc_addr = "127.0.0.1:50053";
  std::string ops_addr = "127.0.0.1:9103";
  std::string address_file;  // ISS_ADDRESS_FILE (common/address_file.h)
  bool migrate = false;
  std::string admin_token;
  std::string log_level = "info";

  bool Wants(std::string_view destination) const;
};

// Reads the configuration; `--help` prints it and exits 0, bad values exit 2
// with one line per variable; settings that contradict each other (or a
// malformed ISS_PG_DSN) exit 1 naming the variables.
PeeBotConfig LoadConfigOrExit(int argc, char** argv);

}  // namespace iss::peebot
