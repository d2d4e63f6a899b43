#include "services/ingestion/config.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/address_file.h"
#include "common/catalog.h"
#include "common/config.h"
#include "common/event_rules.h"
#include "common/log.h"
#include "services/ingestion/pipeline.h"

namespace iss::ingest {
namespace {

// ISS_LS_ITEMS (comma-separated) or the whole catalog, plus TIME_000001.
std::vector<std::string> ItemsToSubscribe(const std::string& configured) {
  std::vector<std::string> items;
  if (configured.empty()) {
    for (const CatalogItem& item : Catalog::Embedded().items()) items.push_back(item.item_id);
  } else {
    for (absl::string_view id : absl::StrSplit(configured, ',', absl::SkipWhitespace())) {
      items.emplace_back(id);
    }
  }
  if (std::find(items.begin(), items.end(), kTimeItem) == items.end()) {
    items.emplace_back(kTimeItem);
  }
  return items;
}

void DeclareKafka(EnvConfig& cfg, IngestConfig& c) {
  cfg.Bind(&c.producer.brokers, "ISS_KAFKA_BROKERS", "Kafka bootstrap servers (host:port,...)");
  cfg.Bind(&c.publisher.topic, "ISS_INGEST_TOPIC", "Topic for events");
  cfg.Bind(&c.publisher.dlq_topic, "ISS_INGEST_DLQ_TOPIC", "Topic for dead letters");
  cfg.Bind(&c.publisher.partitions, "ISS_INGEST_TOPIC_PARTITIONS", 1, 1000,
           "Partitions when the event topic has to be created");
  cfg.Bind(&c.queue_capacity, "ISS_INGEST_QUEUE_CAPACITY", 1, 10000000,
           "Bound of the queue between validation and publish (messages)");
  cfg.Bind(&c.producer.queue_max_messages, "ISS_INGEST_PRODUCER_QUEUE_MAX", 10, 10000000,
           "librdkafka's own queue bound (messages); beyond it the pipeline backs up");
  cfg.Bind(&c.producer.linger, "ISS_INGEST_LINGER", absl::ZeroDuration(), absl::Seconds(1),
           "Producer linger (batching delay)");
}

void DeclareSource(EnvConfig& cfg, IngestConfig& c) {
  cfg.BindEnum(&c.source, "ISS_INGEST_SOURCE", {"isslive", "replay", "none"},
               "Where updates come from");
  cfg.Bind(&c.source_label, "ISS_INGEST_SOURCE_LABEL",
           "`source` of events from the Lightstreamer client (\"simulator\" offline)");
  cfg.Bind(&c.replay.path, "ISS_INGEST_REPLAY_FILE", "JSON-lines file (ISS_INGEST_SOURCE=replay)");
  cfg.Bind(&c.replay.speed, "ISS_INGEST_REPLAY_SPEED", 0.0, 1e6,
           "Replay pace: 1 = as recorded, N = N times faster, 0 = as fast as possible");
}

void DeclareRecorder(EnvConfig& cfg, IngestConfig& c) {
  RecorderOptions& r = c.recorder;
  cfg.Bind(&r.dir, "ISS_INGEST_RECORD_DIR",
           "Record every update received, as received, to rotating replay files in this "
           "directory (empty = off)");
  cfg.Bind(&r.max_file_bytes, "ISS_INGEST_RECORD_MAX_BYTES", 4096, int64_t{1} << 40,
           "A new recording file after this many bytes of lines (uncompressed)");
  cfg.Bind(&r.max_file_age, "ISS_INGEST_RECORD_ROTATE", absl::Seconds(1), absl::Hours(24 * 7),
           "A new recording file after this long");
  cfg.Bind(&r.gzip, "ISS_INGEST_RECORD_GZIP", "gzip the recording files");
  cfg.Bind(&r.queue_capacity, "ISS_INGEST_RECORD_QUEUE", 1, 10000000,
           "Updates held for the recorder's writer; beyond it updates go unrecorded (counted), "
           "the feed is never slowed");
  cfg.Bind(&r.max_total_bytes, "ISS_INGEST_RECORD_MAX_TOTAL_BYTES", 0, int64_t{1} << 50,
           "Oldest recordings in the directory are deleted beyond this many bytes (0 = never)");
}

void DeclareLightstreamer(EnvConfig& cfg, IngestConfig& c) {
  tlcp::ClientOptions& o = c.client;
  cfg.BindAddress(&c.ls_server, "ISS_LS_SERVER",
                  "Lightstreamer server host:port (or the simulator)");
  cfg.Bind(&o.tls, "ISS_LS_TLS", "Use TLS (wss://) to the server");
  cfg.Bind(&o.adapter_set, "ISS_LS_ADAPTER_SET", "Lightstreamer adapter set");
  cfg.Bind(&o.subprotocol, "ISS_LS_SUBPROTOCOL",
           "WebSocket subprotocol (TLCP version; TLCP-2.2.0.lightstreamer.com also works)");
  cfg.Bind(&o.requested_max_frequency, "ISS_LS_MAX_FREQUENCY",
           "LS_requested_max_frequency of every subscription: unlimited, unfiltered or "
           "updates/s (anything but unlimited lets the server conflate a tank rise)");
  cfg.Bind(&o.refused_retry, "ISS_LS_REFUSED_RETRY", absl::Seconds(1), absl::Hours(24 * 7),
           "An item the server refused is asked for again after this long");
  cfg.Bind(&o.refused_backoff, "ISS_LS_REFUSED_BACKOFF", absl::Seconds(1), absl::Hours(24),
           "Wait after the server refused the session permanently (state REFUSED)");
  cfg.Bind(&c.ls_items, "ISS_LS_ITEMS",
           "Comma-separated items (empty = the catalog); TIME_000001 is always added");
}

// Rules across settings, each blaming the variable to change.
void DeclareChecks(EnvConfig& cfg, const IngestConfig& c) {
  cfg.Check([&c] {
    return c.source == "replay" && c.replay.path.empty()
               ? std::string("ISS_INGEST_REPLAY_FILE=\"\": required when ISS_INGEST_SOURCE=replay")
               : std::string();
  });
  cfg.Check([&c] {
    return c.source == "replay" && !c.recorder.dir.empty() && c.recorder.dir == c.replay.path
               ? absl::StrCat("ISS_INGEST_RECORD_DIR: must not be the directory being replayed (",
                              c.replay.path, ")")
               : std::string();
  });
  // Every feed event carries the label as `source`: one storage would refuse
  // (common/event_rules.h) would have every event dead-lettered there.
  cfg.Check([&c] {
    const rules::TextFault f = rules::CheckText(c.source_label, rules::kMaxSourceBytes);
    return f == rules::TextFault::kNone ? std::string()
                                        : absl::StrCat("ISS_INGEST_SOURCE_LABEL: ",
                                                       rules::Describe(f, rules::kMaxSourceBytes));
  });
}

}  // namespace

IngestConfig::IngestConfig() {
  producer.brokers = "127.0.0.1:19092";
  producer.client_id = "iss-ingestion";
  // The library's default keeps every recording (tests); a deployed recorder
  // stays within a disk budget.
  recorder.max_total_bytes = int64_t{10} << 30;
}

IngestConfig LoadConfigOrExit(int argc, char** argv) {
  IngestConfig c;
  EnvConfig cfg("ingestion");
  DeclareKafka(cfg, c);
  cfg.BindAddress(&c.grpc_addr, "ISS_INGEST_GRPC_ADDR", "gRPC listen address");
  cfg.BindAddress(&c.ops_addr, "ISS_INGEST_OPS_ADDR", "/healthz, /readyz, /metrics listen address");
  BindAddressFile(cfg, &c.address_file);
  cfg.Bind(&c.admin_token, "ISS_ADMIN_TOKEN", "Bearer token for admin RPCs (empty = refused)",
           /*secret=*/true);
  DeclareSource(cfg, c);
  DeclareRecorder(cfg, c);
  DeclareLightstreamer(cfg, c);
  cfg.Bind(&c.shutdown_timeout, "ISS_INGEST_SHUTDOWN_TIMEOUT", absl::Seconds(1), absl::Minutes(10),
           "How long shutdown waits for the broker to take the rest");
  cfg.BindEnum(&c.log_level, "ISS_LOG_LEVEL", {"debug", "info", "warn", "error"},
               "Minimum log level");
  DeclareChecks(cfg, c);
  cfg.LoadOrExit(argc, argv);
  log::Init("ingestion", log::Level::kInfo);
  (void)log::SetLevel(c.log_level);
  for (const auto& [name, value] : cfg.Effective()) log::Info("config", {{name, value}});
  // Derived settings: one value, several consumers.
  c.client.host = c.ls_server.host;
  c.client.port = c.ls_server.port;
  c.client.items = ItemsToSubscribe(c.ls_items);
  return c;
}

}  // namespace iss::ingest
