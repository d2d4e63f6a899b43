// iss-storage: Kafka telemetry.raw.v1 -> PostgreSQL, exactly once, plus the
// iss.storage.v1 query API. Reads top to bottom as the pipeline:
//   config -> schema (migrate, catalog, partitions) -> sink -> queries ->
//   servers -> wait (broker reachability into health) -> drain.
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/catalog.h"
#include "common/grpc_server.h"
#include "common/health.h"
#include "common/kafka_supervisor.h"
#include "common/log.h"
#include "common/ops_server.h"
#include "common/pg.h"
#include "common/runtime.h"
#include "common/service_servers.h"
#include "common/shutdown.h"
#include "services/storage/config.h"
#include "services/storage/conn_pool.h"
#include "services/storage/query_store.h"
#include "services/storage/sink.h"
#include "services/storage/storage_service.h"
#include "services/storage/tail_hub.h"
#include "services/storage/upkeep.h"

int main(int argc, char** argv) {
  using namespace iss;           // NOLINT: a main() wiring our own components
  using namespace iss::storage;  // NOLINT
  ConfigureServiceRuntime();     // before any thread starts
  InstallShutdownSignals();
  const StorageConfig config = LoadConfigOrExit(argc, argv);
  Health health;
  health.Declare("kafka");

  // --- schema: migrate (optional), catalog, partitions around today ----------
  auto connected = pg::ConnectWithRetry(config.dsn);
  if (absl::IsCancelled(connected.status())) return 0;
  if (!connected.ok()) Fail("database", connected.status());
  std::unique_ptr<pqxx::connection> conn = *std::move(connected);
  if (absl::Status s = pg::EnsureSchema(*conn, config.migrate, /*need=*/2, "ISS_STORAGE_MIGRATE");
      !s.ok()) {
    Fail("database schema", s);
  }
  if (auto n = SeedCatalog(*conn, Catalog::Embedded()); !n.ok()) {
    Fail("catalog seeding failed", n.status());
  }
  conn.reset();
  Upkeep upkeep(config.dsn, config.retention, config.upkeep_interval);
  if (absl::Status s = upkeep.RunOnce(); !s.ok()) Fail("partition upkeep failed", s);
  upkeep.Start();

  // --- sink: consume -> decode -> validate -> batch -> commit ----------------
  TailHub tail(config.tail_buffer);
  Sink sink(config.sink, &health, &tail);
  if (absl::Status s = sink.Start(); !s.ok()) Fail("sink failed to start", s);

  // --- query API ------------------------------------------------------------
  ConnectionPool pool(config.dsn, static_cast<size_t>(config.query_conns));
  if (absl::Status s = pool.Warm(1); !s.ok()) {
    log::Warn("no query connection yet; queries will open one", {{"error", s.ToString()}});
  }
  QueryStore store(&pool, config.limits);
  StorageServiceImpl service(&store, &tail, &sink, config.sink.group_id);

  // --- servers --------------------------------------------------------------
  // Memory freed after a burst of big requests goes back to the OS.
  const auto releaser = MemoryReleaser::Start({});
  ServiceServers servers = StartServiceServersOrExit(
      ServiceGrpcOptions(config.grpc_addr, config.admin_token, &service,
                         "iss.storage.v1.StorageService", &health, kMaxRequestBytes),
      config.ops_addr, config.address_file);
  log::Info("storage ready",
            {{"grpc_port", servers.grpc->port()}, {"ops_port", servers.ops->port()}});

  // --- wait (keeping the broker's state in health), then drain ---------------
  // Its own small client, as ingestion pings with its producer: not ready
  // while no broker answers.
  auto probe = kafka::BrokerProbe::Create(config.sink.brokers, "iss-storage-health");
  if (!probe.ok()) Fail("kafka probe failed to start", probe.status());
  kafka::WatchBrokersUntilShutdown(**probe, &health);
  log::Info("shutting down");
  health.SetShuttingDown();
  tail.Close();  // ends Tail streams so the server can drain
  servers.grpc->Shutdown(absl::Seconds(5));
  sink.Stop();  // commits the pending batch, leaves the group
  upkeep.Stop();
  log::Info("stopped");
  return 0;
}
