// iss-peebot: detects urination events on the ISS urine tank and posts them
// to X, Bluesky, Mastodon and webhooks. Reads top to bottom as the pipeline:
//   config -> network clients -> database (schema, settings) -> posters ->
//   consumer pipeline (Kafka -> detector -> PostgreSQL) -> admin API + ops ->
//   wait -> drain.
#include <memory>

#include "absl/strings/str_join.h"
#include "common/grpc_server.h"
#include "common/health.h"
#include "common/kafka_supervisor.h"
#include "common/log.h"
#include "common/ops_server.h"
#include "common/runtime.h"
#include "common/service_servers.h"
#include "common/shutdown.h"
#include "services/peebot/admin_service.h"
#include "services/peebot/config.h"
#include "services/peebot/pipeline.h"
#include "services/peebot/posters.h"
#include "services/peebot/settings.h"
#include "services/peebot/startup.h"
#include "services/peebot/store.h"

using namespace iss;          // NOLINT: a main() wiring our own components
using namespace iss::peebot;  // NOLINT

int main(int argc, char** argv) {
  ConfigureServiceRuntime();  // before any thread starts
  InstallShutdownSignals();

  // --- config, then the network clients: a bad URL or secret never gets better
  const PeeBotConfig config = LoadConfigOrExit(argc, argv);
  auto clients = CreateNetworkClients(config);
  if (!clients.ok()) Fail("bad configuration", clients.status());

  // --- database: schema, then the settings an admin may have stored ---------
  Store admin_store(config.dsn), pipeline_store(config.dsn);
  if (!WaitForDatabase(admin_store)) return 0;
  if (config.migrate) {
    if (absl::Status s = admin_store.Migrate(); !s.ok()) Fail("migration failed", s);
  }
  const bool x_credentials = config.x.credentials.complete();
  RuntimeSettings settings(StartupSettings(admin_store, config.settings), x_credentials);
  if (!x_credentials) log::Warn("no X credentials configured: dry-run mode");

  // --- posters: X, Bluesky, Mastodon, webhook ----------------------------------
  Health health;
  health.Declare("kafka");  // kept by the broker probe in the wait loop below
  Posters posters(config, *std::move(clients), &settings, &health);
  posters.Start();

  // --- consumer pipeline: Kafka -> detector -> PostgreSQL ---------------------
  Pipeline pipeline(config.pipeline, &pipeline_store, &settings, &health,
                    [&posters] { posters.Notify(); });
  if (absl::Status s = pipeline.Start(); !s.ok()) Fail("pipeline failed to start", s);

  // --- admin API and ops --------------------------------------------------------
  AdminService::Deps deps;
  deps.store = &admin_store;
  deps.settings = &settings;
  deps.poster = posters.x();
  deps.view = [&] { return pipeline.view(); };
  deps.on_settings_changed = [&posters] { posters.Notify(); };
  deps.x_configured = config.Wants(kDestinationX);
  deps.destinations = posters.destinations();
  deps.tank_items = config.pipeline.tank_items;
  deps.max_sample_lag = config.pipeline.max_sample_lag;
  AdminService admin(deps);
  // Memory freed after a burst of big requests goes back to the OS.
  const auto releaser = MemoryReleaser::Start({});
  ServiceServers servers = StartServiceServersOrExit(
      ServiceGrpcOptions(config.grpc_addr, config.admin_token, &admin,
                         "iss.peebot.v1.PeeBotService", &health, kMaxRequestBytes),
      config.ops_addr, config.address_file);
  log::Info("peebot ready", {{"grpc_port", servers.grpc->port()},
                             {"ops_port", servers.ops->port()},
                             {"mode", settings.EffectiveDryRun() ? "dry-run" : "live"},
                             {"destinations", absl::StrJoin(config.destinations, ",")}});

  // --- wait (keeping the broker's state in health), then drain ----------------
  auto probe = kafka::BrokerProbe::Create(config.pipeline.brokers, "iss-peebot-health");
  if (!probe.ok()) Fail("kafka probe failed to start", probe.status());
  kafka::WatchBrokersUntilShutdown(**probe, &health);
  log::Info("shutting down");
  health.SetShuttingDown();
  servers.grpc->Shutdown(absl::Seconds(5));
  pipeline.Stop();  // the last batch is committed or rolled back, never half
  posters.Stop();
  log::Info("stopped");
  return 0;
}
