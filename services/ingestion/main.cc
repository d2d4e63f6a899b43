// iss-ingestion: live ISSLIVE telemetry -> validated protobuf events on Kafka.
//
//   config -> log/health -> bounded queue -> publisher (Kafka producer)
//   -> pipeline (validate, enrich, dead letters) -> recorder (optional: every
//   update as received, to replay files) -> source (Lightstreamer client,
//   replay file, or none) -> gRPC + ops servers -> run until SIGTERM
//   -> stop source, stop gRPC, close the recording, drain the queue, flush
//   the producer.
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/catalog.h"
#include "common/config.h"
#include "common/event_rules.h"
#include "common/grpc_server.h"
#include "common/health.h"
#include "common/kafka.h"
#include "common/kafka_supervisor.h"
#include "common/log.h"
#include "common/ops_server.h"
#include "common/runtime.h"
#include "common/shutdown.h"
#include "services/ingestion/bounded_queue.h"
#include "services/ingestion/pipeline.h"
#include "services/ingestion/publisher.h"
#include "services/ingestion/recorder.h"
#include "services/ingestion/replay.h"
#include "services/ingestion/service.h"
#include "services/ingestion/signal_tracker.h"
#include "services/ingestion/tlcp/client.h"

namespace {

using namespace iss;
using namespace iss::ingest;

// Stamps the configured source label on the client's updates ("isslive", or
// "simulator" when pointed at the offline simulator) before the pipeline.
class LabelledSink final : public UpdateSink {
 public:
  LabelledSink(std::string label, UpdateSink* next) : label_(std::move(label)), next_(next) {}
  bool Deliver(RawUpdate update) override {
    update.source = label_;
    return next_->Deliver(std::move(update));
  }

 private:
  const std::string label_;
  UpdateSink* const next_;
};

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

}  // namespace

int main(int argc, char** argv) {
  ConfigureServiceRuntime();  // before any thread starts
  InstallShutdownSignals();

  // --- config -----------------------------------------------------------------
  EnvConfig cfg("ingestion");
  const auto* brokers =
      cfg.String("ISS_KAFKA_BROKERS", "127.0.0.1:19092", "Kafka bootstrap servers (host:port,...)");
  const auto* topic = cfg.String("ISS_INGEST_TOPIC", "telemetry.raw.v1", "Topic for events");
  const auto* dlq_topic =
      cfg.String("ISS_INGEST_DLQ_TOPIC", "telemetry.dlq.v1", "Topic for dead letters");
  const auto* partitions = cfg.Int("ISS_INGEST_TOPIC_PARTITIONS", 12, 1, 1000,
                                   "Partitions when the event topic has to be created");
  const auto* capacity = cfg.Int("ISS_INGEST_QUEUE_CAPACITY", 10000, 1, 10000000,
                                 "Bound of the queue between validation and publish (messages)");
  const auto* producer_queue =
      cfg.Int("ISS_INGEST_PRODUCER_QUEUE_MAX", 100000, 10, 10000000,
              "librdkafka's own queue bound (messages); beyond it the pipeline backs up");
  const auto* linger =
      cfg.Duration("ISS_INGEST_LINGER", absl::Milliseconds(5), absl::ZeroDuration(),
                   absl::Seconds(1), "Producer linger (batching delay)");
  const auto* grpc_addr =
      cfg.Address("ISS_INGEST_GRPC_ADDR", "127.0.0.1:50051", "gRPC listen address");
  const auto* ops_addr = cfg.Address("ISS_INGEST_OPS_ADDR", "127.0.0.1:9101",
                                     "/healthz, /readyz, /metrics listen address");
  const auto* admin_token =
      cfg.String("ISS_ADMIN_TOKEN", "", "Bearer token for admin RPCs (empty = refused)", true);
  const auto* source = cfg.Enum("ISS_INGEST_SOURCE", "isslive", {"isslive", "replay", "none"},
                                "Where updates come from");
  const auto* source_label =
      cfg.String("ISS_INGEST_SOURCE_LABEL", "isslive",
                 "`source` of events from the Lightstreamer client (\"simulator\" offline)");
  const auto* replay_file =
      cfg.String("ISS_INGEST_REPLAY_FILE", "", "JSON-lines file (ISS_INGEST_SOURCE=replay)");
  const auto* replay_speed = cfg.Double("ISS_INGEST_REPLAY_SPEED", 1.0, 0.0, 1e6,
                                        "Replay pace: 1 = as recorded, N = N times faster, "
                                        "0 = as fast as possible");
  const auto* record_dir = cfg.String(
      "ISS_INGEST_RECORD_DIR", "",
      "Record every update received, as received, to rotating replay files in this directory "
      "(empty = off)");
  const auto* record_max_bytes =
      cfg.Int("ISS_INGEST_RECORD_MAX_BYTES", int64_t{64} << 20, 4096, int64_t{1} << 40,
              "A new recording file after this many bytes of lines (uncompressed)");
  const auto* record_rotate =
      cfg.Duration("ISS_INGEST_RECORD_ROTATE", absl::Hours(1), absl::Seconds(1),
                   absl::Hours(24 * 7), "A new recording file after this long");
  const auto* record_gzip = cfg.Bool("ISS_INGEST_RECORD_GZIP", false, "gzip the recording files");
  const auto* record_queue =
      cfg.Int("ISS_INGEST_RECORD_QUEUE", 100000, 1, 10000000,
              "Updates held for the recorder's writer; beyond it updates go unrecorded (counted), "
              "the feed is never slowed");
  const auto* record_total =
      cfg.Int("ISS_INGEST_RECORD_MAX_TOTAL_BYTES", int64_t{10} << 30, 0, int64_t{1} << 50,
              "Oldest recordings in the directory are deleted beyond this many bytes (0 = never)");
  const auto* ls_server = cfg.Address("ISS_LS_SERVER", "push.lightstreamer.com:443",
                                      "Lightstreamer server host:port (or the simulator)");
  const auto* ls_tls = cfg.Bool("ISS_LS_TLS", true, "Use TLS (wss://) to the server");
  const auto* ls_adapter = cfg.String("ISS_LS_ADAPTER_SET", "ISSLIVE", "Lightstreamer adapter set");
  const auto* ls_subprotocol =
      cfg.String("ISS_LS_SUBPROTOCOL", "TLCP-2.5.0.lightstreamer.com",
                 "WebSocket subprotocol (TLCP version; TLCP-2.2.0.lightstreamer.com also works)");
  const auto* ls_max_frequency =
      cfg.String("ISS_LS_MAX_FREQUENCY", "unlimited",
                 "LS_requested_max_frequency of every subscription: unlimited, unfiltered or "
                 "updates/s (anything but unlimited lets the server conflate a tank rise)");
  const auto* ls_refused_retry =
      cfg.Duration("ISS_LS_REFUSED_RETRY", absl::Hours(1), absl::Seconds(1), absl::Hours(24 * 7),
                   "An item the server refused is asked for again after this long");
  const auto* ls_refused_backoff =
      cfg.Duration("ISS_LS_REFUSED_BACKOFF", absl::Minutes(15), absl::Seconds(1), absl::Hours(24),
                   "Wait after the server refused the session permanently (state REFUSED)");
  const auto* ls_items = cfg.String("ISS_LS_ITEMS", "",
                                    "Comma-separated items (empty = the catalog); TIME_000001 "
                                    "is always added");
  const auto* shutdown_timeout =
      cfg.Duration("ISS_INGEST_SHUTDOWN_TIMEOUT", absl::Seconds(30), absl::Seconds(1),
                   absl::Minutes(10), "How long shutdown waits for the broker to take the rest");
  const auto* log_level =
      cfg.Enum("ISS_LOG_LEVEL", "info", {"debug", "info", "warn", "error"}, "Minimum log level");
  cfg.LoadOrExit(argc, argv);
  if (*source == "replay" && !record_dir->empty() && *record_dir == *replay_file) {
    std::cerr << "ISS_INGEST_RECORD_DIR: must not be the directory being replayed (" << *replay_file
              << ")\n";
    return 2;
  }
  if (*source == "replay" && replay_file->empty()) {
    std::cerr << "ISS_INGEST_REPLAY_FILE=\"\": required when ISS_INGEST_SOURCE=replay\n";
    return 2;
  }
  // Every feed event carries the label as `source`: one storage would refuse
  // (common/event_rules.h) would have every event dead-lettered there.
  if (const rules::TextFault f = rules::CheckText(*source_label, rules::kMaxSourceBytes);
      f != rules::TextFault::kNone) {
    std::cerr << "ISS_INGEST_SOURCE_LABEL: " << rules::Describe(f, rules::kMaxSourceBytes) << "\n";
    return 2;
  }

  // --- log, health ------------------------------------------------------------------
  log::Init("ingestion", log::Level::kInfo);
  (void)log::SetLevel(*log_level);
  for (const auto& [name, value] : cfg.Effective()) log::Info("config", {{name, value}});
  Health health;
  health.Declare("kafka");
  if (*source != "none") health.Declare("source");

  // --- bounded queue -> publisher (owns the idempotent producer) -----------------------
  BoundedQueue queue(static_cast<size_t>(*capacity));
  kafka::ProducerOptions producer_options;
  producer_options.brokers = *brokers;
  producer_options.client_id = "iss-ingestion";
  producer_options.linger = *linger;
  producer_options.queue_max_messages = static_cast<int>(*producer_queue);
  PublisherOptions publisher_options;
  publisher_options.topic = *topic;
  publisher_options.dlq_topic = *dlq_topic;
  publisher_options.partitions = static_cast<int>(*partitions);
  auto publisher = Publisher::Start(publisher_options, producer_options, &queue);
  if (!publisher.ok()) Fail("kafka producer failed to start", publisher.status());

  // --- pipeline: validate -> enrich -> queue (dead letters for the rest) ----------------
  SignalTracker signal;
  Pipeline pipeline(&queue, &signal);

  // --- recorder: every update from the source, as received (off the live path) ----
  std::unique_ptr<Recorder> recorder;
  if (!record_dir->empty()) {
    auto r = Recorder::Start({.dir = *record_dir,
                              .max_file_bytes = *record_max_bytes,
                              .max_file_age = *record_rotate,
                              .gzip = *record_gzip,
                              .queue_capacity = static_cast<size_t>(*record_queue),
                              .max_total_bytes = *record_total});
    if (!r.ok()) Fail("recorder", r.status());
    recorder = *std::move(r);
  }
  RecordingSink recording(recorder.get(), &pipeline);
  UpdateSink* const to_pipeline = recorder ? static_cast<UpdateSink*>(&recording) : &pipeline;

  // --- source ---------------------------------------------------------------------
  LabelledSink labelled(*source_label, to_pipeline);
  std::unique_ptr<tlcp::Client> client;
  std::unique_ptr<ReplaySource> replay;
  if (*source == "isslive") {
    tlcp::ClientOptions o;
    const size_t colon = ls_server->rfind(':');
    o.host = ls_server->substr(0, colon);
    o.port = std::stoi(ls_server->substr(colon + 1));
    o.tls = *ls_tls;
    o.adapter_set = *ls_adapter;
    o.subprotocol = *ls_subprotocol;
    o.requested_max_frequency = *ls_max_frequency;
    o.refused_retry = *ls_refused_retry;
    o.refused_backoff = *ls_refused_backoff;
    o.items = ItemsToSubscribe(*ls_items);
    client = std::make_unique<tlcp::Client>(o, &labelled);
    if (absl::Status s = client->Start(); !s.ok()) Fail("lightstreamer client", s);
  } else if (*source == "replay") {
    replay = std::make_unique<ReplaySource>(
        ReplayOptions{.path = *replay_file, .speed = *replay_speed, .progress = true}, to_pipeline,
        [&pipeline](std::string_view detail, std::string_view raw) {
          return pipeline.RejectUndecodable(detail, raw, "replay");
        });
    if (absl::Status s = replay->Start(); !s.ok()) Fail("replay source", s);
  }
  SourceStatusFn source_status = [&]() {
    SourceStatus st;
    if (client) {
      const tlcp::ClientStatus c = client->Status();
      st.state = c.state;
      st.session_id = c.session_id;
      st.server = c.server;
      st.subscribed_items = c.subscribed_items;
      st.reconnects = c.reconnects;
      tlcp::DescribeStatus(c, &st.detail);
    } else if (replay) {
      st.state = replay->progress().done ? iss::ingest::v1::CONNECTION_STATE_DISCONNECTED
                                         : iss::ingest::v1::CONNECTION_STATE_CONNECTED;
      st.server = absl::StrCat("replay:", *replay_file);
    }
    return st;
  };

  // --- gRPC + ops servers -------------------------------------------------------------
  IngestServiceImpl service(&pipeline, source_status, [&] {
    return static_cast<uint64_t>((*publisher)->stats().events_acked);
  });
  // Memory freed after a burst of big requests goes back to the OS.
  const auto releaser = MemoryReleaser::Start({});
  GrpcServerOptions grpc_options;
  grpc_options.address = *grpc_addr;
  grpc_options.admin_token = *admin_token;
  grpc_options.services = {&service};
  grpc_options.service_names = {"iss.ingest.v1.IngestService"};
  grpc_options.health = &health;
  grpc_options.max_receive_bytes = kMaxRequestBytes;
  auto grpc = GrpcServer::Start(grpc_options);
  if (!grpc.ok()) Fail("gRPC server failed to start", grpc.status());
  auto ops = OpsServer::Start(*ops_addr, &health);
  if (!ops.ok()) Fail("ops server failed to start", ops.status());
  log::Info("ingestion ready", {{"grpc_port", (*grpc)->port()},
                                {"ops_port", (*ops)->port()},
                                {"source", *source},
                                {"topic", *topic}});

  // --- run: keep health and the signal state current until SIGTERM ----------------------
  do {
    kafka::ReportBrokerHealth((*publisher)->Ping(absl::Seconds(2)), &health);
    if (*source != "none") {
      const SourceStatus st = source_status();
      const bool up = st.state == iss::ingest::v1::CONNECTION_STATE_CONNECTED ||
                      (replay && replay->progress().done);
      // /readyz says why: "CONNECTION_STATE_REFUSED: CONERR 2: Requested ...".
      std::string detail = iss::ingest::v1::ConnectionState_Name(st.state);
      if (!st.detail.state_reason().empty()) absl::StrAppend(&detail, ": ", st.detail.state_reason());
      health.Set("source", up, detail);
    }
    // Live feed only: a replay's signal follows its recorded receive times.
    if (client) signal.State(absl::Now());
  } while (!WaitForShutdownFor(absl::Seconds(1)));

  // --- shutdown: stop taking input, then let the broker take everything ----------------
  log::Info("shutting down");
  health.SetShuttingDown();
  if (client) client->Stop();
  if (replay) replay->Stop();
  (*grpc)->Shutdown(absl::Seconds(5));
  if (recorder) recorder->Stop();  // the source has stopped: write the rest
  queue.Close();
  const absl::Status drained = (*publisher)->Drain(*shutdown_timeout);
  const Publisher::Stats stats = (*publisher)->stats();
  log::Info("ingestion stopped", {{"events_published", stats.events_acked},
                                  {"dead_letters_published", stats.dead_letters_acked},
                                  {"delivery_failures", stats.failures},
                                  {"drain", drained.ok() ? "complete" : drained.ToString()}});
  return drained.ok() ? 0 : 1;
}
