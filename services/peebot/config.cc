#include "services/peebot/config.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "common/address_file.h"
#include "common/config.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/runtime.h"
#include "services/peebot/destinations.h"

namespace iss::peebot {
namespace {

void DeclareConsumer(EnvConfig& cfg, PeeBotConfig& c) {
  PipelineOptions& p = c.pipeline;
  cfg.BindRequired(&c.dsn, "ISS_PG_DSN", "PostgreSQL connection string", /*secret=*/true);
  cfg.Bind(&p.brokers, "ISS_KAFKA_BROKERS", "Kafka bootstrap servers");
  cfg.Bind(&p.topic, "ISS_PEEBOT_TOPIC", "Topic to consume");
  cfg.Bind(&p.dlq_topic, "ISS_PEEBOT_DLQ_TOPIC",
           "Dead-letter topic for messages that are not a TelemetryEvent");
  cfg.Bind(&p.group_id, "ISS_PEEBOT_GROUP", "Kafka consumer group");
  cfg.BindList(&p.tank_items, "ISS_PEEBOT_ITEMS", "Comma-separated urine tank item ids to watch");
}

void DeclareDetection(EnvConfig& cfg, PeeBotConfig& c) {
  PeeBotSettings& s = c.settings;
  cfg.Bind(&s.min_rise_percent, "ISS_PEEBOT_MIN_RISE_PERCENT", 0.01, 100,
           "Smallest rise (percent points) that is an event");
  cfg.Bind(&s.max_step_gap, "ISS_PEEBOT_MAX_STEP_GAP", absl::Seconds(1), absl::Minutes(10),
           "Longest event-time gap between the steps of one rise");
  cfg.Bind(&c.pipeline.max_sample_lag, "ISS_PEEBOT_MAX_SAMPLE_LAG", absl::Seconds(1),
           absl::Hours(24),
           "A sample received from the feed this long after it was taken (a snapshot after a "
           "reconnect) only re-baselines");
  cfg.Bind(&s.ml_per_percent, "ISS_PEEBOT_ML_PER_PERCENT", 0.01, 10000,
           "Tank millilitres per percent point (volume estimate)");
}

void DeclarePosting(EnvConfig& cfg, PeeBotConfig& c) {
  PeeBotSettings& s = c.settings;
  cfg.Bind(&s.cooldown, "ISS_PEEBOT_COOLDOWN", absl::ZeroDuration(), absl::Hours(24),
           "Minimum time between two posts");
  cfg.Bind(&s.daily_post_cap, "ISS_PEEBOT_DAILY_CAP", 0, 10000,
           "Posts per UTC day, at most (17 = X's strictest tier)");
  cfg.Bind(&s.dry_run, "ISS_PEEBOT_DRY_RUN", "Log and store posts instead of sending them");
  cfg.Bind(&c.max_post_age, "ISS_PEEBOT_MAX_POST_AGE", absl::ZeroDuration(), absl::Hours(24 * 3650),
           "A detection that ended longer ago than this is stored as stale and never posted "
           "(0 = no limit)");
}

void DeclareX(EnvConfig& cfg, PeeBotConfig& c) {
  XClientOptions& x = c.x;
  cfg.Bind(&x.base_url, "ISS_PEEBOT_X_BASE_URL",
           "X API base URL: https://, or http:// to a loopback host (127.0.0.1, localhost, ::1) "
           "for tests' fake server");
  cfg.Bind(&x.timeout, "ISS_PEEBOT_X_TIMEOUT", absl::Milliseconds(100), absl::Minutes(2),
           "Timeout of one X API call");
  cfg.Bind(&x.ca_file, "ISS_PEEBOT_X_CA_FILE", "Extra CA file for the X API's TLS");
  cfg.Bind(&x.credentials.consumer_key, "ISS_X_CONSUMER_KEY", "X API consumer key", true);
  cfg.Bind(&x.credentials.consumer_secret, "ISS_X_CONSUMER_SECRET", "X API consumer secret", true);
  cfg.Bind(&x.credentials.token, "ISS_X_ACCESS_TOKEN", "X API access token", true);
  cfg.Bind(&x.credentials.token_secret, "ISS_X_ACCESS_TOKEN_SECRET", "X API access token secret",
           true);
}

void DeclareDestinations(EnvConfig& cfg, PeeBotConfig& c) {
  cfg.Bind(&c.destinations_list, "ISS_PEEBOT_DESTINATIONS",
           "Where to post, comma-separated among x, bluesky, mastodon, webhook (empty = x)");
  cfg.Bind(&c.x_dry_run, "ISS_PEEBOT_X_DRY_RUN", "Log and store X posts instead of sending them");
  cfg.Bind(&c.network_timeout, "ISS_PEEBOT_NETWORK_TIMEOUT", absl::Milliseconds(100),
           absl::Minutes(2), "Timeout of one Bluesky, Mastodon or webhook call");
  cfg.Bind(&c.bluesky.pds_url, "ISS_PEEBOT_BLUESKY_PDS_URL",
           "Bluesky PDS (or entryway) base URL: https://, or http:// to a loopback host for "
           "tests' fake server");
  cfg.Bind(&c.bluesky.identifier, "ISS_BLUESKY_IDENTIFIER",
           "Bluesky handle (or DID or e-mail) Pee-Bot posts as");
  cfg.Bind(&c.bluesky.app_password, "ISS_BLUESKY_APP_PASSWORD",
           "Bluesky app password (not the account's)", true);
  cfg.Bind(&c.bluesky_destination.dry_run, "ISS_PEEBOT_BLUESKY_DRY_RUN",
           "Log and store Bluesky posts instead of sending them");
  cfg.Bind(&c.bluesky_destination.daily_cap, "ISS_PEEBOT_BLUESKY_DAILY_CAP", -1, 10000,
           "Bluesky posts per UTC day, at most (-1 = the shared daily cap)");
  cfg.Bind(&c.mastodon.instance_url, "ISS_PEEBOT_MASTODON_URL",
           "Mastodon instance base URL (https://, or http:// to a loopback host for tests)");
  cfg.Bind(&c.mastodon.access_token, "ISS_MASTODON_ACCESS_TOKEN",
           "Mastodon access token with scope write:statuses", true);
  cfg.BindEnum(&c.mastodon_visibility, "ISS_PEEBOT_MASTODON_VISIBILITY",
               {"public", "unlisted", "private"}, "Visibility of Mastodon posts");
  cfg.Bind(&c.mastodon_destination.dry_run, "ISS_PEEBOT_MASTODON_DRY_RUN",
           "Log and store Mastodon posts instead of sending them");
  cfg.Bind(&c.mastodon_destination.daily_cap, "ISS_PEEBOT_MASTODON_DAILY_CAP", -1, 10000,
           "Mastodon posts per UTC day, at most (-1 = the shared daily cap)");
  cfg.Bind(&c.webhook.url, "ISS_PEEBOT_WEBHOOK_URL",
           "Webhook endpoint (https://, or http:// to a loopback host); chat webhook URLs carry "
           "their token, so it is treated as a secret",
           true);
  cfg.Bind(&c.webhook_secrets, "ISS_PEEBOT_WEBHOOK_SECRET",
           "Standard Webhooks signing secrets (whsec_<base64>), space-separated for rotation; "
           "empty = unsigned",
           true);
  cfg.Bind(&c.webhook_destination.dry_run, "ISS_PEEBOT_WEBHOOK_DRY_RUN",
           "Log and store webhook deliveries instead of sending them");
  cfg.Bind(&c.webhook_destination.daily_cap, "ISS_PEEBOT_WEBHOOK_DAILY_CAP", -1, 10000,
           "Webhook deliveries per UTC day, at most (-1 = the shared daily cap)");
}

void DeclareServer(EnvConfig& cfg, PeeBotConfig& c) {
  cfg.BindAddress(&c.grpc_addr, "ISS_PEEBOT_GRPC_ADDR", "gRPC listen address");
  cfg.BindAddress(&c.ops_addr, "ISS_PEEBOT_OPS_ADDR", "/healthz, /readyz, /metrics address");
  BindAddressFile(cfg, &c.address_file);
  cfg.Bind(&c.pipeline.supervisor.stall_timeout, "ISS_PEEBOT_STALL_TIMEOUT", absl::ZeroDuration(),
           absl::Minutes(30),
           "Consumer making no progress this long while the broker holds unread messages is "
           "replaced (0 = never)");
  cfg.Bind(&c.session_timeout, "ISS_PEEBOT_SESSION_TIMEOUT", absl::Seconds(6), absl::Minutes(30),
           "Consumer-group session timeout: how long a dead instance keeps its partitions");
  cfg.Bind(&c.pipeline.sample_retention, "ISS_PEEBOT_SAMPLE_RETENTION", absl::ZeroDuration(),
           absl::Hours(24 * 3650),
           "Event time of stored samples kept for re-evaluation (0 = forever)");
  cfg.Bind(&c.migrate, "ISS_PEEBOT_MIGRATE", "Apply schema migrations at start");
  cfg.Bind(&c.admin_token, "ISS_ADMIN_TOKEN", "Bearer token for admin RPCs", true);
  cfg.BindEnum(&c.log_level, "ISS_LOG_LEVEL", {"debug", "info", "warn", "error"},
               "Minimum log level");
}

// Rules across settings. Exit 1 naming the variables, never their values.
void CheckOrFail(const PeeBotConfig& c) {
  const auto bad = [](std::string what) {
    Fail("bad configuration", absl::InvalidArgumentError(std::move(what)));
  };
  if (c.pipeline.tank_items.empty()) bad("ISS_PEEBOT_ITEMS: no item ids");
  const OAuthCredentials& x = c.x.credentials;
  const int set = !x.consumer_key.empty() + !x.consumer_secret.empty() + !x.token.empty() +
                  !x.token_secret.empty();
  if (set != 0 && set != 4) {
    bad("ISS_X_CONSUMER_KEY, ISS_X_CONSUMER_SECRET, ISS_X_ACCESS_TOKEN, "
        "ISS_X_ACCESS_TOKEN_SECRET: set all four or none");
  }
  // A destination listed without what it needs is a mistake, unless it is
  // meant to dry-run (X keeps its old rule: no credentials = dry-run).
  if (c.Wants(kDestinationBluesky) && !c.bluesky_destination.dry_run &&
      (c.bluesky.identifier.empty() || c.bluesky.app_password.empty())) {
    bad("ISS_BLUESKY_IDENTIFIER, ISS_BLUESKY_APP_PASSWORD: both needed for destination bluesky "
        "(or ISS_PEEBOT_BLUESKY_DRY_RUN=true)");
  }
  if (c.Wants(kDestinationMastodon) && !c.mastodon_destination.dry_run &&
      (c.mastodon.instance_url.empty() || c.mastodon.access_token.empty())) {
    bad("ISS_PEEBOT_MASTODON_URL, ISS_MASTODON_ACCESS_TOKEN: both needed for destination "
        "mastodon (or ISS_PEEBOT_MASTODON_DRY_RUN=true)");
  }
  if (c.Wants(kDestinationWebhook) && !c.webhook_destination.dry_run && c.webhook.url.empty()) {
    bad("ISS_PEEBOT_WEBHOOK_URL: needed for destination webhook (or "
        "ISS_PEEBOT_WEBHOOK_DRY_RUN=true)");
  }
  // A malformed DSN never gets better: fail now rather than retry forever.
  if (absl::Status s = pg::ValidateDsn(c.dsn); !s.ok()) Fail("bad configuration", s);
}

}  // namespace

PeeBotConfig::PeeBotConfig() { pipeline.brokers = "127.0.0.1:19092"; }

bool PeeBotConfig::Wants(std::string_view destination) const {
  return std::find(destinations.begin(), destinations.end(), destination) != destinations.end();
}

PeeBotConfig LoadConfigOrExit(int argc, char** argv) {
  PeeBotConfig c;
  EnvConfig cfg("peebot");
  DeclareConsumer(cfg, c);
  DeclareDetection(cfg, c);
  DeclarePosting(cfg, c);
  DeclareX(cfg, c);
  DeclareDestinations(cfg, c);
  DeclareServer(cfg, c);
  cfg.LoadOrExit(argc, argv);
  log::Init("peebot", log::Level::kInfo);
  (void)log::SetLevel(c.log_level);
  for (const auto& [name, value] : cfg.Effective()) log::Info("config", {{name, value}});
  auto destinations = ParseDestinations(c.destinations_list);
  if (!destinations.ok()) Fail("bad configuration", destinations.status());
  c.destinations = *std::move(destinations);
  CheckOrFail(c);
  // Derived settings: one value, several consumers.
  c.pipeline.max_post_age = c.max_post_age;
  c.pipeline.kafka_extra = kafka::GroupSessionProperties(c.session_timeout);
  c.bluesky.timeout = c.mastodon.timeout = c.webhook.timeout = c.network_timeout;
  c.webhook.secrets =
      absl::StrSplit(c.webhook_secrets, absl::ByAnyChar(" ,"), absl::SkipWhitespace());
  return c;
}

}  // namespace iss::peebot
