#include "services/storage/config.h"

#include "common/address_file.h"
#include "common/config.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/runtime.h"

namespace iss::storage {

StorageConfig LoadConfigOrExit(int argc, char** argv) {
  StorageConfig c;
  SinkOptions& s = c.sink;
  EnvConfig cfg("storage");
  cfg.BindRequired(&c.dsn, "ISS_PG_DSN", "PostgreSQL connection string", /*secret=*/true);
  cfg.Bind(&s.brokers, "ISS_KAFKA_BROKERS", "Kafka bootstrap servers");
  cfg.Bind(&s.topic, "ISS_STORAGE_TOPIC", "Topic to persist");
  cfg.Bind(&s.dlq_topic, "ISS_STORAGE_DLQ_TOPIC", "Dead-letter topic for poison messages");
  cfg.Bind(&s.group_id, "ISS_STORAGE_GROUP", "Kafka consumer group");
  cfg.Bind(&s.batch_max, "ISS_STORAGE_BATCH_MAX", 1, 100000, "Events per transaction, at most");
  cfg.Bind(&s.batch_wait, "ISS_STORAGE_BATCH_WAIT", absl::Milliseconds(1), absl::Seconds(10),
           "Longest a batch waits to fill before it commits");
  cfg.Bind(&s.fetch_wait, "ISS_STORAGE_FETCH_WAIT", absl::Milliseconds(1), absl::Seconds(1),
           "Longest a consumer fetch waits at the broker for data (fetch.wait.max.ms)");
  cfg.BindAddress(&c.grpc_addr, "ISS_STORAGE_GRPC_ADDR", "gRPC listen address");
  cfg.BindAddress(&c.ops_addr, "ISS_STORAGE_OPS_ADDR", "/healthz, /readyz, /metrics address");
  BindAddressFile(cfg, &c.address_file);
  cfg.Bind(&c.migrate, "ISS_STORAGE_MIGRATE", "Apply schema migrations at start");
  cfg.Bind(&c.retention, "ISS_STORAGE_RETENTION", absl::Hours(24), absl::Hours(24 * 3650),
           "Keep telemetry this long (whole days)");
  cfg.Bind(&c.limits.max_window, "ISS_STORAGE_MAX_WINDOW", absl::Minutes(1), absl::Hours(24 * 3650),
           "Longest QueryWindow/GetSeries window");
  cfg.Bind(&c.query_conns, "ISS_STORAGE_QUERY_CONNS", 1, 64, "PostgreSQL connections for queries");
  cfg.Bind(&c.tail_buffer, "ISS_STORAGE_TAIL_BUFFER", 100, 1000000,
           "Events a Tail subscriber may lag before it is dropped");
  cfg.Bind(&c.upkeep_interval, "ISS_STORAGE_UPKEEP_INTERVAL", absl::Seconds(1), absl::Hours(24),
           "How often partitions are created ahead / expired");
  cfg.Bind(&c.session_timeout, "ISS_STORAGE_SESSION_TIMEOUT", absl::Seconds(6), absl::Minutes(30),
           "Consumer-group session timeout: how long a dead replica keeps its partitions");
  cfg.Bind(&s.supervisor.stall_timeout, "ISS_STORAGE_STALL_TIMEOUT", absl::ZeroDuration(),
           absl::Minutes(30),
           "Consumer making no progress this long while the broker holds unread messages is "
           "replaced (0 = never)");
  cfg.Bind(&c.admin_token, "ISS_ADMIN_TOKEN", "Bearer token for admin RPCs", /*secret=*/true);
  cfg.BindEnum(&c.log_level, "ISS_LOG_LEVEL", {"debug", "info", "warn", "error"},
               "Minimum log level");
  cfg.LoadOrExit(argc, argv);
  log::Init("storage", log::Level::kInfo);
  (void)log::SetLevel(c.log_level);
  for (const auto& [name, value] : cfg.Effective()) log::Info("config", {{name, value}});
  // A malformed DSN never gets better: fail now rather than retry forever.
  if (absl::Status st = pg::ValidateDsn(c.dsn); !st.ok()) Fail("bad configuration", st);
  // Derived settings: one value, several consumers.
  s.dsn = c.dsn;
  s.retention = c.retention;
  s.consumer_extra = kafka::GroupSessionProperties(c.session_timeout);
  return c;
}

}  // namespace iss::storage
