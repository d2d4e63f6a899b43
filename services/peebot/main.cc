// iss-peebot: detects urination events on the ISS urine tank and posts them
// to X, Bluesky, Mastodon and webhooks. Reads top to bottom as the pipeline:
//   config -> database (schema, settings) -> network clients -> posters ->
//   consumer pipeline (Kafka -> detector -> PostgreSQL) -> admin API + ops ->
//   wait -> drain.
#include <algorithm>
#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/config.h"
#include "common/grpc_server.h"
#include "common/health.h"
#include "common/kafka_supervisor.h"
#include "common/log.h"
#include "common/ops_server.h"
#include "common/pg.h"
#include "common/runtime.h"
#include "common/shutdown.h"
#include "services/peebot/admin_service.h"
#include "services/peebot/bluesky_client.h"
#include "services/peebot/destinations.h"
#include "services/peebot/mastodon_client.h"
#include "services/peebot/pipeline.h"
#include "services/peebot/poster.h"
#include "services/peebot/settings.h"
#include "services/peebot/store.h"
#include "services/peebot/webhook_client.h"
#include "services/peebot/x_client.h"

namespace {

using namespace iss;          // NOLINT: a main() wiring our own components
using namespace iss::peebot;  // NOLINT

// The database may come up after us: retry until it answers or we are told to stop.
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

}  // namespace

int main(int argc, char** argv) {
  ConfigureServiceRuntime();  // before any thread starts
  InstallShutdownSignals();

  // --- config -------------------------------------------------------------
  EnvConfig cfg("peebot");
  const auto* dsn = cfg.String("ISS_PG_DSN", std::nullopt, "PostgreSQL connection string", true);
  const auto* brokers =
      cfg.String("ISS_KAFKA_BROKERS", "127.0.0.1:19092", "Kafka bootstrap servers");
  const auto* topic = cfg.String("ISS_PEEBOT_TOPIC", "telemetry.raw.v1", "Topic to consume");
  const auto* group = cfg.String("ISS_PEEBOT_GROUP", "iss-peebot", "Kafka consumer group");
  const auto* items =
      cfg.String("ISS_PEEBOT_ITEMS", "NODE3000005", "Comma-separated urine tank item ids to watch");
  const auto* min_rise = cfg.Double("ISS_PEEBOT_MIN_RISE_PERCENT", 2.0, 0.01, 100,
                                    "Smallest rise (percent points) that is an event");
  const auto* step_gap =
      cfg.Duration("ISS_PEEBOT_MAX_STEP_GAP", absl::Seconds(30), absl::Seconds(1),
                   absl::Minutes(10), "Longest event-time gap between the steps of one rise");
  const auto* max_sample_lag = cfg.Duration(
      "ISS_PEEBOT_MAX_SAMPLE_LAG", absl::Seconds(60), absl::Seconds(1), absl::Hours(24),
      "A sample received from the feed this long after it was taken (a snapshot after a "
      "reconnect) only re-baselines");
  const auto* ml_per_percent = cfg.Double("ISS_PEEBOT_ML_PER_PERCENT", 82.0, 0.01, 10000,
                                          "Tank millilitres per percent point (volume estimate)");
  const auto* cooldown =
      cfg.Duration("ISS_PEEBOT_COOLDOWN", absl::Minutes(15), absl::ZeroDuration(), absl::Hours(24),
                   "Minimum time between two posts");
  const auto* daily_cap = cfg.Int("ISS_PEEBOT_DAILY_CAP", 17, 0, 10000,
                                  "Posts per UTC day, at most (17 = X's strictest tier)");
  const auto* dry_run =
      cfg.Bool("ISS_PEEBOT_DRY_RUN", false, "Log and store posts instead of sending them");
  const auto* max_post_age = cfg.Duration(
      "ISS_PEEBOT_MAX_POST_AGE", absl::Minutes(10), absl::ZeroDuration(), absl::Hours(24 * 3650),
      "A detection that ended longer ago than this is stored as stale and never posted "
      "(0 = no limit)");
  const auto* x_base = cfg.String("ISS_PEEBOT_X_BASE_URL", "https://api.x.com",
                                  "X API base URL: https://, or http:// to a loopback host "
                                  "(127.0.0.1, localhost, ::1) for tests' fake server");
  const auto* x_timeout =
      cfg.Duration("ISS_PEEBOT_X_TIMEOUT", absl::Seconds(10), absl::Milliseconds(100),
                   absl::Minutes(2), "Timeout of one X API call");
  const auto* x_ca = cfg.String("ISS_PEEBOT_X_CA_FILE", "", "Extra CA file for the X API's TLS");
  const auto* ck = cfg.String("ISS_X_CONSUMER_KEY", "", "X API consumer key", true);
  const auto* cs = cfg.String("ISS_X_CONSUMER_SECRET", "", "X API consumer secret", true);
  const auto* tk = cfg.String("ISS_X_ACCESS_TOKEN", "", "X API access token", true);
  const auto* ts = cfg.String("ISS_X_ACCESS_TOKEN_SECRET", "", "X API access token secret", true);
  const auto* destinations_list =
      cfg.String("ISS_PEEBOT_DESTINATIONS", "",
                 "Where to post, comma-separated among x, bluesky, mastodon, webhook (empty = x)");
  const auto* x_dry_run =
      cfg.Bool("ISS_PEEBOT_X_DRY_RUN", false, "Log and store X posts instead of sending them");
  const auto* net_timeout =
      cfg.Duration("ISS_PEEBOT_NETWORK_TIMEOUT", absl::Seconds(10), absl::Milliseconds(100),
                   absl::Minutes(2), "Timeout of one Bluesky, Mastodon or webhook call");
  const auto* bsky_url = cfg.String("ISS_PEEBOT_BLUESKY_PDS_URL", "https://bsky.social",
                                    "Bluesky PDS (or entryway) base URL: https://, or http:// to "
                                    "a loopback host for tests' fake server");
  const auto* bsky_id = cfg.String("ISS_BLUESKY_IDENTIFIER", "",
                                   "Bluesky handle (or DID or e-mail) Pee-Bot posts as");
  const auto* bsky_pass =
      cfg.String("ISS_BLUESKY_APP_PASSWORD", "", "Bluesky app password (not the account's)", true);
  const auto* bsky_dry_run = cfg.Bool("ISS_PEEBOT_BLUESKY_DRY_RUN", false,
                                      "Log and store Bluesky posts instead of sending them");
  const auto* bsky_cap = cfg.Int("ISS_PEEBOT_BLUESKY_DAILY_CAP", -1, -1, 10000,
                                 "Bluesky posts per UTC day, at most (-1 = the shared daily cap)");
  const auto* masto_url =
      cfg.String("ISS_PEEBOT_MASTODON_URL", "",
                 "Mastodon instance base URL (https://, or http:// to a loopback host for tests)");
  const auto* masto_token = cfg.String("ISS_MASTODON_ACCESS_TOKEN", "",
                                       "Mastodon access token with scope write:statuses", true);
  const auto* masto_visibility =
      cfg.Enum("ISS_PEEBOT_MASTODON_VISIBILITY", "public", {"public", "unlisted", "private"},
               "Visibility of Mastodon posts");
  const auto* masto_dry_run = cfg.Bool("ISS_PEEBOT_MASTODON_DRY_RUN", false,
                                       "Log and store Mastodon posts instead of sending them");
  const auto* masto_cap =
      cfg.Int("ISS_PEEBOT_MASTODON_DAILY_CAP", -1, -1, 10000,
              "Mastodon posts per UTC day, at most (-1 = the shared daily cap)");
  const auto* hook_url = cfg.String(
      "ISS_PEEBOT_WEBHOOK_URL", "",
      "Webhook endpoint (https://, or http:// to a loopback host); chat webhook URLs carry "
      "their token, so it is treated as a secret",
      true);
  const auto* hook_secret = cfg.String(
      "ISS_PEEBOT_WEBHOOK_SECRET", "",
      "Standard Webhooks signing secrets (whsec_<base64>), space-separated for rotation; "
      "empty = unsigned",
      true);
  const auto* hook_dry_run = cfg.Bool("ISS_PEEBOT_WEBHOOK_DRY_RUN", false,
                                      "Log and store webhook deliveries instead of sending them");
  const auto* hook_cap =
      cfg.Int("ISS_PEEBOT_WEBHOOK_DAILY_CAP", -1, -1, 10000,
              "Webhook deliveries per UTC day, at most (-1 = the shared daily cap)");
  const auto* grpc_addr =
      cfg.Address("ISS_PEEBOT_GRPC_ADDR", "127.0.0.1:50053", "gRPC listen address");
  const auto* ops_addr =
      cfg.Address("ISS_PEEBOT_OPS_ADDR", "127.0.0.1:9103", "/healthz, /readyz, /metrics address");
  const auto* stall_timeout = cfg.Duration(
      "ISS_PEEBOT_STALL_TIMEOUT", absl::Seconds(30), absl::ZeroDuration(), absl::Minutes(30),
      "Consumer making no progress this long while the broker holds unread messages is "
      "replaced (0 = never)");
  const auto* session_timeout = cfg.Duration(
      "ISS_PEEBOT_SESSION_TIMEOUT", absl::Seconds(45), absl::Seconds(6), absl::Minutes(30),
      "Consumer-group session timeout: how long a dead instance keeps its partitions");
  const auto* sample_retention = cfg.Duration(
      "ISS_PEEBOT_SAMPLE_RETENTION", absl::Hours(24 * 30), absl::ZeroDuration(),
      absl::Hours(24 * 3650), "Event time of stored samples kept for re-evaluation (0 = forever)");
  const auto* migrate = cfg.Bool("ISS_PEEBOT_MIGRATE", false, "Apply schema migrations at start");
  const auto* admin_token = cfg.String("ISS_ADMIN_TOKEN", "", "Bearer token for admin RPCs", true);
  const auto* log_level =
      cfg.Enum("ISS_LOG_LEVEL", "info", {"debug", "info", "warn", "error"}, "Minimum log level");
  cfg.LoadOrExit(argc, argv);
  log::Init("peebot", log::Level::kInfo);
  (void)log::SetLevel(*log_level);
  for (const auto& [name, value] : cfg.Effective()) log::Info("config", {{name, value}});

  std::vector<std::string> tank_items;
  for (absl::string_view item : absl::StrSplit(*items, ',', absl::SkipWhitespace())) {
    tank_items.emplace_back(absl::StripAsciiWhitespace(item));
  }
  if (tank_items.empty()) {
    Fail("bad configuration", absl::InvalidArgumentError("ISS_PEEBOT_ITEMS: no item ids"));
  }
  const OAuthCredentials creds{*ck, *cs, *tk, *ts};
  const int creds_set = !ck->empty() + !cs->empty() + !tk->empty() + !ts->empty();
  if (creds_set != 0 && creds_set != 4) {
    Fail("bad configuration", absl::InvalidArgumentError(
                                  "ISS_X_CONSUMER_KEY, ISS_X_CONSUMER_SECRET, ISS_X_ACCESS_TOKEN, "
                                  "ISS_X_ACCESS_TOKEN_SECRET: set all four or none"));
  }

  auto destinations = ParseDestinations(*destinations_list);
  if (!destinations.ok()) Fail("bad configuration", destinations.status());
  auto wants = [&](const std::string& name) {
    return std::find(destinations->begin(), destinations->end(), name) != destinations->end();
  };
  // A destination listed without what it needs is a mistake, unless it is
  // meant to dry-run (X keeps its old rule: no credentials = dry-run).
  if (wants(kDestinationBluesky) && !*bsky_dry_run && (bsky_id->empty() || bsky_pass->empty())) {
    Fail("bad configuration", absl::InvalidArgumentError(
                                  "ISS_BLUESKY_IDENTIFIER, ISS_BLUESKY_APP_PASSWORD: both needed "
                                  "for destination bluesky (or ISS_PEEBOT_BLUESKY_DRY_RUN=true)"));
  }
  if (wants(kDestinationMastodon) && !*masto_dry_run &&
      (masto_url->empty() || masto_token->empty())) {
    Fail("bad configuration",
         absl::InvalidArgumentError(
             "ISS_PEEBOT_MASTODON_URL, ISS_MASTODON_ACCESS_TOKEN: both needed "
             "for destination mastodon (or ISS_PEEBOT_MASTODON_DRY_RUN=true)"));
  }
  if (wants(kDestinationWebhook) && !*hook_dry_run && hook_url->empty()) {
    Fail("bad configuration",
         absl::InvalidArgumentError("ISS_PEEBOT_WEBHOOK_URL: needed for destination webhook (or "
                                    "ISS_PEEBOT_WEBHOOK_DRY_RUN=true)"));
  }

  // The network clients now: a bad URL or secret never gets better either.
  std::unique_ptr<BlueskyClient> bluesky;
  std::unique_ptr<MastodonClient> mastodon;
  std::unique_ptr<WebhookClient> webhook;
  if (wants(kDestinationBluesky) && !bsky_id->empty() && !bsky_pass->empty()) {
    auto c = BlueskyClient::Create({*bsky_url, *bsky_id, *bsky_pass, *net_timeout, ""});
    if (!c.ok()) Fail("bad Bluesky configuration", c.status());
    bluesky = std::move(*c);
  }
  if (wants(kDestinationMastodon) && !masto_url->empty() && !masto_token->empty()) {
    auto c = MastodonClient::Create({*masto_url, *masto_token, *net_timeout, ""});
    if (!c.ok()) Fail("bad Mastodon configuration", c.status());
    mastodon = std::move(*c);
  }
  if (wants(kDestinationWebhook) && !hook_url->empty()) {
    WebhookOptions wo;
    wo.url = *hook_url;
    wo.secrets = absl::StrSplit(*hook_secret, absl::ByAnyChar(" ,"), absl::SkipWhitespace());
    wo.timeout = *net_timeout;
    auto c = WebhookClient::Create(wo);
    if (!c.ok()) Fail("bad webhook configuration", c.status());
    webhook = std::move(*c);
  }

  // A malformed DSN never gets better: fail now rather than retry forever.
  if (absl::Status s = pg::ValidateDsn(*dsn); !s.ok()) Fail("bad configuration", s);

  Health health;

  // --- database: schema, then the settings an admin may have stored ---------
  Store admin_store(*dsn), poster_store(*dsn), pipeline_store(*dsn);
  if (!WaitForDatabase(admin_store)) return 0;
  if (*migrate) {
    if (absl::Status s = admin_store.Migrate(); !s.ok()) Fail("migration failed", s);
  }
  PeeBotSettings initial;
  initial.min_rise_percent = *min_rise;
  initial.max_step_gap = *step_gap;
  initial.ml_per_percent = *ml_per_percent;
  initial.cooldown = *cooldown;
  initial.daily_post_cap = static_cast<uint32_t>(*daily_cap);
  initial.dry_run = *dry_run;
  auto stored = admin_store.LoadSettings();
  if (!stored.ok()) {
    Fail("cannot read settings (schema missing? set ISS_PEEBOT_MIGRATE=true)", stored.status());
  }
  if (*stored) {
    // Run-time changes made through the admin API outlive restarts.
    auto s = FromJson(**stored, initial);
    if (s.ok()) {
      initial = *s;
      log::Info("using settings stored by an admin", {{"settings", ToJson(initial)}});
    } else {
      log::Warn("stored settings ignored", {{"error", s.status().ToString()}});
    }
  }
  RuntimeSettings settings(initial, creds.complete());
  if (!creds.complete()) log::Warn("no X credentials configured: dry-run mode");

  // --- X client and poster ----------------------------------------------------
  std::unique_ptr<XClient> x;
  if (creds.complete()) {
    auto client = XClient::Create({*x_base, creds, *x_timeout, *x_ca});
    if (!client.ok()) Fail("bad X API configuration", client.status());
    x = std::move(*client);
  }
  health.Declare("kafka");  // kept by the broker probe in the wait loop below
  health.Declare("x_api", /*required=*/false);
  health.Set("x_api", x != nullptr, x ? "configured" : "no credentials: dry-run");
  RealClock clock;
  PosterOptions poster_options;
  poster_options.max_post_age = *max_post_age;
  // Every destination (X included) shares the per-detection decision.
  poster_options.shared_admission = true;
  poster_options.destinations = *destinations;
  poster_options.dry_run = *x_dry_run;
  Poster poster(&poster_store, x.get(), &settings, &clock, poster_options);
  // Not required for readiness: detections are recorded while X is unwell.
  poster.OnHealthChange([&health](const std::string& h) { health.Set("x_api", h == "ok", h); });
  std::unique_ptr<PosterLoop> poster_loop;
  if (wants(kDestinationX)) {
    poster_loop = std::make_unique<PosterLoop>(&poster, &clock, absl::Seconds(5));
    poster_loop->Start();
  }

  // --- Bluesky, Mastodon, webhook: a client, a network and a poster each -------
  std::vector<std::unique_ptr<Network>> networks;
  std::vector<std::unique_ptr<Store>> destination_stores;
  std::vector<std::unique_ptr<DestinationPoster>> destination_posters;
  std::vector<std::unique_ptr<PosterLoop>> destination_loops;
  auto add_destination = [&](const std::string& name, Network* network, bool dest_dry_run,
                             int64_t cap) {
    DestinationOptions o;
    o.name = name;
    o.dry_run = dest_dry_run;
    o.daily_cap = static_cast<int>(cap);
    o.max_post_age = *max_post_age;
    o.destinations = *destinations;
    destination_stores.push_back(std::make_unique<Store>(*dsn));
    auto p = std::make_unique<DestinationPoster>(destination_stores.back().get(), network,
                                                 &settings, &clock, o);
    const std::string check = absl::StrCat(name, "_api");
    health.Declare(check, /*required=*/false);
    health.Set(check, network != nullptr, network ? "configured" : "no credentials: dry-run");
    p->OnHealthChange([&health, check](const std::string& h) { health.Set(check, h == "ok", h); });
    if (!network) log::Warn("destination without credentials: dry-run", {{"destination", name}});
    destination_posters.push_back(std::move(p));
  };
  if (wants(kDestinationBluesky)) {
    Network* net = nullptr;
    if (bluesky) {
      networks.push_back(MakeBlueskyNetwork(bluesky.get()));
      net = networks.back().get();
    }
    add_destination(kDestinationBluesky, net, *bsky_dry_run, *bsky_cap);
  }
  if (wants(kDestinationMastodon)) {
    Network* net = nullptr;
    if (mastodon) {
      MastodonNetworkOptions mo;
      mo.visibility = *masto_visibility;
      // The instance's own length rule; the default (500) when it does not say.
      if (auto limits = mastodon->GetInstanceLimits(); limits.ok()) {
        mo.max_characters = limits->max_characters;
        mo.characters_per_url = limits->characters_reserved_per_url;
      } else {
        log::Warn("cannot read the Mastodon instance's limits: assuming 500 characters",
                  {{"error", limits.status().ToString()}});
      }
      networks.push_back(MakeMastodonNetwork(mastodon.get(), mo));
      net = networks.back().get();
    }
    add_destination(kDestinationMastodon, net, *masto_dry_run, *masto_cap);
  }
  if (wants(kDestinationWebhook)) {
    Network* net = nullptr;
    if (webhook) {
      networks.push_back(MakeWebhookNetwork(webhook.get()));
      net = networks.back().get();
    }
    add_destination(kDestinationWebhook, net, *hook_dry_run, *hook_cap);
  }
  for (auto& p : destination_posters) {
    DestinationPoster* dp = p.get();
    destination_loops.push_back(
        std::make_unique<PosterLoop>([dp] { return dp->RunOnce(); }, &clock, absl::Seconds(1)));
    destination_loops.back()->Start();
  }
  auto notify_posters = [&] {
    if (poster_loop) poster_loop->Notify();
    for (auto& l : destination_loops) l->Notify();
  };

  // --- consumer pipeline: Kafka -> detector -> PostgreSQL ---------------------
  PipelineOptions po;
  po.brokers = *brokers;
  po.group_id = *group;
  po.topic = *topic;
  po.tank_items = tank_items;
  po.max_sample_lag = *max_sample_lag;
  po.max_post_age = *max_post_age;
  po.sample_retention = *sample_retention;
  po.supervisor.stall_timeout = *stall_timeout;
  po.kafka_extra = {
      {"session.timeout.ms", absl::StrCat(absl::ToInt64Milliseconds(*session_timeout))},
      // A tenth of the session, as librdkafka advises (at most a third).
      {"heartbeat.interval.ms",
       absl::StrCat(std::max<int64_t>(100, absl::ToInt64Milliseconds(*session_timeout) / 10))}};
  Pipeline pipeline(po, &pipeline_store, &settings, &health, notify_posters);
  if (absl::Status s = pipeline.Start(); !s.ok()) Fail("pipeline failed to start", s);

  // --- admin API and ops --------------------------------------------------------
  AdminService::Deps deps;
  deps.store = &admin_store;
  deps.settings = &settings;
  deps.poster = &poster;
  deps.view = [&] { return pipeline.view(); };
  deps.on_settings_changed = notify_posters;
  deps.x_configured = wants(kDestinationX);
  for (auto& p : destination_posters) deps.destinations.push_back(p.get());
  deps.tank_items = tank_items;
  deps.max_sample_lag = *max_sample_lag;
  AdminService admin(deps);
  // Memory freed after a burst of big requests goes back to the OS.
  const auto releaser = MemoryReleaser::Start({});
  GrpcServerOptions grpc_opts;
  grpc_opts.address = *grpc_addr;
  grpc_opts.admin_token = *admin_token;
  grpc_opts.services = {&admin};
  grpc_opts.service_names = {"iss.peebot.v1.PeeBotService"};
  grpc_opts.health = &health;
  grpc_opts.max_receive_bytes = kMaxRequestBytes;
  auto grpc = GrpcServer::Start(grpc_opts);
  if (!grpc.ok()) Fail("gRPC server failed to start", grpc.status());
  auto ops = OpsServer::Start(*ops_addr, &health);
  if (!ops.ok()) Fail("ops server failed to start", ops.status());
  log::Info("peebot ready", {{"grpc_port", (*grpc)->port()},
                             {"ops_port", (*ops)->port()},
                             {"mode", settings.EffectiveDryRun() ? "dry-run" : "live"},
                             {"destinations", absl::StrJoin(*destinations, ",")}});

  // --- wait (keeping the broker's state in health), then drain ----------------
  auto probe = kafka::BrokerProbe::Create(*brokers, "iss-peebot-health");
  if (!probe.ok()) Fail("kafka probe failed to start", probe.status());
  kafka::WatchBrokersUntilShutdown(**probe, &health);
  log::Info("shutting down");
  health.SetShuttingDown();
  (*grpc)->Shutdown(absl::Seconds(5));
  pipeline.Stop();  // the last batch is committed or rolled back, never half
  // A post waiting on backoff stays pending (in flight if sent).
  if (poster_loop) poster_loop->Stop();
  for (auto& l : destination_loops) l->Stop();
  log::Info("stopped");
  return 0;
}
