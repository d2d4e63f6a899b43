// iss-storage: Kafka telemetry.raw.v1 -> PostgreSQL, exactly once, plus the
// iss.storage.v1 query API. Reads top to bottom as the pipeline:
//   config -> schema (migrate, catalog, partitions) -> sink -> queries ->
//   servers -> wait (broker reachability into health) -> drain.
#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/catalog.h"
#include "common/config.h"
#include "common/grpc_server.h"
#include "common/health.h"
#include "common/kafka_supervisor.h"
#include "common/log.h"
#include "common/ops_server.h"
#include "common/pg.h"
#include "common/runtime.h"
#include "common/shutdown.h"
#include "services/storage/conn_pool.h"
#include "services/storage/query_store.h"
#include "services/storage/sink.h"
#include "services/storage/storage_service.h"
#include "services/storage/tail_hub.h"
#include "services/storage/upkeep.h"

namespace {

using namespace iss;           // NOLINT: a main() wiring our own components
using namespace iss::storage;  // NOLINT

[[noreturn]] void Fail(const std::string& what, const absl::Status& s) {
  log::Error(what, {{"error", s.ToString()}});
  std::exit(1);
}

// The database may come up after us: retry until it answers or we are told to stop.
std::unique_ptr<pqxx::connection> ConnectWithRetry(const std::string& dsn) {
  absl::Duration backoff = absl::Milliseconds(200);
  for (;;) {
    auto conn = pg::Connect(dsn);
    if (conn.ok()) return *std::move(conn);
    log::Warn("database not reachable yet", {{"error", conn.status().ToString()}});
    if (WaitForShutdownFor(backoff)) return nullptr;
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

}  // namespace

int main(int argc, char** argv) {
  ConfigureServiceRuntime();  // before any thread starts
  InstallShutdownSignals();

  // --- config -------------------------------------------------------------
  EnvConfig cfg("storage");
  const auto* dsn = cfg.String("ISS_PG_DSN", std::nullopt, "PostgreSQL connection string", true);
  const auto* brokers =
      cfg.String("ISS_KAFKA_BROKERS", "127.0.0.1:19092", "Kafka bootstrap servers");
  const auto* topic = cfg.String("ISS_STORAGE_TOPIC", "telemetry.raw.v1", "Topic to persist");
  const auto* dlq_topic = cfg.String("ISS_STORAGE_DLQ_TOPIC", "telemetry.dlq.v1",
                                     "Dead-letter topic for poison messages");
  const auto* group = cfg.String("ISS_STORAGE_GROUP", "iss-storage", "Kafka consumer group");
  const auto* batch_max =
      cfg.Int("ISS_STORAGE_BATCH_MAX", 5000, 1, 100000, "Events per transaction, at most");
  const auto* batch_wait =
      cfg.Duration("ISS_STORAGE_BATCH_WAIT", absl::Milliseconds(100), absl::Milliseconds(1),
                   absl::Seconds(10), "Longest a batch waits to fill before it commits");
  const auto* grpc_addr =
      cfg.Address("ISS_STORAGE_GRPC_ADDR", "127.0.0.1:50052", "gRPC listen address");
  const auto* ops_addr =
      cfg.Address("ISS_STORAGE_OPS_ADDR", "127.0.0.1:9102", "/healthz, /readyz, /metrics address");
  const auto* migrate = cfg.Bool("ISS_STORAGE_MIGRATE", false, "Apply schema migrations at start");
  const auto* retention =
      cfg.Duration("ISS_STORAGE_RETENTION", absl::Hours(720), absl::Hours(24),
                   absl::Hours(24 * 3650), "Keep telemetry this long (whole days)");
  const auto* max_window =
      cfg.Duration("ISS_STORAGE_MAX_WINDOW", absl::Hours(744), absl::Minutes(1),
                   absl::Hours(24 * 3650), "Longest QueryWindow/GetSeries window");
  const auto* query_conns =
      cfg.Int("ISS_STORAGE_QUERY_CONNS", 4, 1, 64, "PostgreSQL connections for queries");
  const auto* tail_buffer = cfg.Int("ISS_STORAGE_TAIL_BUFFER", 10000, 100, 1000000,
                                    "Events a Tail subscriber may lag before it is dropped");
  const auto* upkeep_every =
      cfg.Duration("ISS_STORAGE_UPKEEP_INTERVAL", absl::Hours(1), absl::Seconds(1), absl::Hours(24),
                   "How often partitions are created ahead / expired");
  const auto* session_timeout = cfg.Duration(
      "ISS_STORAGE_SESSION_TIMEOUT", absl::Seconds(45), absl::Seconds(6), absl::Minutes(30),
      "Consumer-group session timeout: how long a dead replica keeps its partitions");
  const auto* stall_timeout = cfg.Duration(
      "ISS_STORAGE_STALL_TIMEOUT", absl::Seconds(30), absl::ZeroDuration(), absl::Minutes(30),
      "Consumer making no progress this long while the broker holds unread messages is "
      "replaced (0 = never)");
  const auto* admin_token = cfg.String("ISS_ADMIN_TOKEN", "", "Bearer token for admin RPCs", true);
  const auto* log_level =
      cfg.Enum("ISS_LOG_LEVEL", "info", {"debug", "info", "warn", "error"}, "Minimum log level");
  cfg.LoadOrExit(argc, argv);
  log::Init("storage", log::Level::kInfo);
  (void)log::SetLevel(*log_level);
  for (const auto& [name, value] : cfg.Effective()) log::Info("config", {{name, value}});

  Health health;
  health.Declare("kafka");

  // A malformed DSN never gets better: fail now rather than retry forever.
  if (absl::Status s = pg::ValidateDsn(*dsn); !s.ok()) Fail("bad configuration", s);

  // --- schema: migrate (optional), catalog, partitions around today ----------
  auto conn = ConnectWithRetry(*dsn);
  if (conn == nullptr) return 0;
  if (*migrate) {
    auto version = pg::Migrate(*conn);
    if (!version.ok()) Fail("migration failed", version.status());
    log::Info("schema migrated", {{"version", *version}});
  } else {
    auto version = pg::SchemaVersion(*conn);
    if (!version.ok()) Fail("cannot read the schema version", version.status());
    if (*version < 2) {
      Fail("schema too old", absl::FailedPreconditionError(absl::StrCat(
                                 "database at version ", *version,
                                 ", need 2: run iss-migrate or set ISS_STORAGE_MIGRATE=true")));
    }
  }
  if (auto n = SeedCatalog(*conn, Catalog::Embedded()); !n.ok()) {
    Fail("catalog seeding failed", n.status());
  }
  conn.reset();
  Upkeep upkeep(*dsn, *retention, *upkeep_every);
  if (absl::Status s = upkeep.RunOnce(); !s.ok()) Fail("partition upkeep failed", s);
  upkeep.Start();

  // --- sink: consume -> decode -> validate -> batch -> commit ----------------
  TailHub tail(static_cast<size_t>(*tail_buffer));
  SinkOptions sink_opts;
  sink_opts.dsn = *dsn;
  sink_opts.brokers = *brokers;
  sink_opts.group_id = *group;
  sink_opts.topic = *topic;
  sink_opts.dlq_topic = *dlq_topic;
  sink_opts.batch_max = static_cast<size_t>(*batch_max);
  sink_opts.batch_wait = *batch_wait;
  sink_opts.retention = *retention;
  sink_opts.consumer_extra = {
      {"session.timeout.ms", absl::StrCat(absl::ToInt64Milliseconds(*session_timeout))},
      {"heartbeat.interval.ms",
       absl::StrCat(std::max<int64_t>(100, absl::ToInt64Milliseconds(*session_timeout) / 10))}};
  sink_opts.supervisor.stall_timeout = *stall_timeout;
  Sink sink(sink_opts, &health, &tail);
  if (absl::Status s = sink.Start(); !s.ok()) Fail("sink failed to start", s);

  // --- query API ------------------------------------------------------------
  ConnectionPool pool(*dsn, static_cast<size_t>(*query_conns));
  QueryLimits limits;
  limits.max_window = *max_window;
  QueryStore store(&pool, limits);
  StorageServiceImpl service(&store, &tail, &sink, *group);

  // --- servers --------------------------------------------------------------
  // Memory freed after a burst of big requests goes back to the OS.
  const auto releaser = MemoryReleaser::Start({});
  GrpcServerOptions grpc_opts;
  grpc_opts.address = *grpc_addr;
  grpc_opts.admin_token = *admin_token;
  grpc_opts.services = {&service};
  grpc_opts.service_names = {"iss.storage.v1.StorageService"};
  grpc_opts.health = &health;
  grpc_opts.max_receive_bytes = kMaxRequestBytes;
  auto grpc = GrpcServer::Start(grpc_opts);
  if (!grpc.ok()) Fail("gRPC server failed to start", grpc.status());
  auto ops = OpsServer::Start(*ops_addr, &health);
  if (!ops.ok()) Fail("ops server failed to start", ops.status());
  log::Info("storage ready", {{"grpc_port", (*grpc)->port()}, {"ops_port", (*ops)->port()}});

  // --- wait (keeping the broker's state in health), then drain ---------------
  // Its own small client, as ingestion pings with its producer: not ready
  // while no broker answers.
  auto probe = kafka::BrokerProbe::Create(*brokers, "iss-storage-health");
  if (!probe.ok()) Fail("kafka probe failed to start", probe.status());
  kafka::WatchBrokersUntilShutdown(**probe, &health);
  log::Info("shutting down");
  health.SetShuttingDown();
  tail.Close();  // ends Tail streams so the server can drain
  (*grpc)->Shutdown(absl::Seconds(5));
  sink.Stop();  // commits the pending batch, leaves the group
  upkeep.Stop();
  log::Info("stopped");
  return 0;
}
