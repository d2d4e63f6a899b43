// iss-ingestion: live ISSLIVE telemetry -> validated protobuf events on Kafka.
//
//   config -> log/health -> bounded queue -> publisher (Kafka producer)
//   -> pipeline (validate, enrich, dead letters) -> recorder (optional: every
//   update as received, to replay files) -> source (Lightstreamer client,
//   replay file, or none) -> gRPC + ops servers -> run until SIGTERM
//   -> stop source, stop gRPC, close the recording, drain the queue, flush
//   the producer.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/grpc_server.h"
#include "common/health.h"
#include "common/kafka.h"
#include "common/kafka_supervisor.h"
#include "common/log.h"
#include "common/ops_server.h"
#include "common/runtime.h"
#include "common/service_servers.h"
#include "common/shutdown.h"
#include "services/ingestion/bounded_queue.h"
#include "services/ingestion/config.h"
#include "services/ingestion/pipeline.h"
#include "services/ingestion/publisher.h"
#include "services/ingestion/recorder.h"
#include "services/ingestion/service.h"
#include "services/ingestion/signal_tracker.h"
#include "services/ingestion/source.h"

namespace {

using namespace iss;
using namespace iss::ingest;

}  // namespace

int main(int argc, char** argv) {
  ConfigureServiceRuntime();  // before any thread starts
  InstallShutdownSignals();

  // --- config, log, health ---------------------------------------------------------
  const IngestConfig c = LoadConfigOrExit(argc, argv);
  Health health;
  health.Declare("kafka");
  if (c.source != "none") health.Declare("source");

  // --- bounded queue -> publisher (owns the idempotent producer) -----------------------
  BoundedQueue queue(c.queue_capacity);
  auto publisher = Publisher::Start(c.publisher, c.producer, &queue);
  if (!publisher.ok()) Fail("kafka producer failed to start", publisher.status());

  // --- pipeline: validate -> enrich -> queue (dead letters for the rest) ----------------
  SignalTracker signal;
  Pipeline pipeline(&queue, &signal);

  // --- recorder: every update from the source, as received (off the live path) ----
  std::unique_ptr<Recorder> recorder;
  if (!c.recorder.dir.empty()) {
    auto r = Recorder::Start(c.recorder);
    if (!r.ok()) Fail("recorder", r.status());
    recorder = *std::move(r);
  }
  RecordingSink recording(recorder.get(), &pipeline);
  UpdateSink* const to_pipeline = recorder ? static_cast<UpdateSink*>(&recording) : &pipeline;

  // --- source: the live feed, a replay, or none ---------------------------------
  auto source = Source::Start(c, to_pipeline, &pipeline);
  if (!source.ok()) Fail("source failed to start", source.status());

  // --- gRPC + ops servers -------------------------------------------------------------
  IngestServiceImpl service(
      &pipeline, [&] { return (*source)->Status(); },
      [&] { return static_cast<uint64_t>((*publisher)->stats().events_acked); });
  // Memory freed after a burst of big requests goes back to the OS.
  const auto releaser = MemoryReleaser::Start({});
  ServiceServers servers = StartServiceServersOrExit(
      ServiceGrpcOptions(c.grpc_addr, c.admin_token, &service, "iss.ingest.v1.IngestService",
                         &health, kMaxRequestBytes),
      c.ops_addr, c.address_file);
  log::Info("ingestion ready", {{"grpc_port", servers.grpc->port()},
                                {"ops_port", servers.ops->port()},
                                {"source", c.source},
                                {"topic", c.publisher.topic}});

  // --- run: keep health and the signal state current until SIGTERM ----------------------
  do {
    kafka::ReportBrokerHealth((*publisher)->Ping(absl::Seconds(2)), &health);
    if (c.source != "none") {
      std::string detail;
      const bool up = (*source)->Ready(&detail);
      health.Set("source", up, detail);
    }
    // Live feed only: a replay's signal follows its recorded receive times.
    if ((*source)->live()) signal.State(absl::Now());
  } while (!WaitForShutdownFor(absl::Seconds(1)));

  // --- shutdown: stop taking input, then let the broker take everything ----------------
  log::Info("shutting down");
  health.SetShuttingDown();
  (*source)->Stop();
  servers.grpc->Shutdown(absl::Seconds(5));
  if (recorder) recorder->Stop();  // the source has stopped: write the rest
  queue.Close();
  const absl::Status drained = (*publisher)->Drain(c.shutdown_timeout);
  const Publisher::Stats stats = (*publisher)->stats();
  log::Info("ingestion stopped", {{"events_published", stats.events_acked},
                                  {"dead_letters_published", stats.dead_letters_acked},
                                  {"delivery_failures", stats.failures},
                                  {"drain", drained.ok() ? "complete" : drained.ToString()}});
  return drained.ok() ? 0 : 1;
}
