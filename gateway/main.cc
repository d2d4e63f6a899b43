// iss-gateway: REST + Server-Sent Events in front of the platform's gRPC
// services, routes taken from the protos' google.api.http annotations, and the
// live dashboard as static files. Reads top to bottom as the pipeline:
// config -> upstream channels (+ health probe) -> route table -> HTTP server.
#include <utility>

#include "absl/strings/str_split.h"
#include "common/config.h"
#include "common/health.h"
#include "common/log.h"
#include "common/runtime.h"
#include "common/shutdown.h"
#include "gateway/fronted.h"
#include "gateway/route_table.h"
#include "gateway/server.h"
#include "gateway/upstreams.h"

int main(int argc, char** argv) {
  iss::ConfigureServiceRuntime();  // before any thread starts
  iss::InstallShutdownSignals();

  iss::EnvConfig config("gateway");
  const std::string* http_addr = config.Address(
      "ISS_GATEWAY_HTTP_ADDR", "127.0.0.1:8080", "Where the REST API, dashboard and ops endpoints listen");
  const std::string* ingest_addr =
      config.Address("ISS_GATEWAY_INGEST_ADDR", "127.0.0.1:50051", "Ingestion service gRPC");
  const std::string* storage_addr =
      config.Address("ISS_GATEWAY_STORAGE_ADDR", "127.0.0.1:50052", "Storage service gRPC");
  const std::string* peebot_addr =
      config.Address("ISS_GATEWAY_PEEBOT_ADDR", "127.0.0.1:50053", "Pee-Bot service gRPC");
  const int64_t* max_body = config.Int("ISS_GATEWAY_MAX_BODY_BYTES", 1 << 20, 1, 64 << 20,
                                       "Largest request body; larger: 413");
  const int64_t* max_header = config.Int("ISS_GATEWAY_MAX_HEADER_BYTES", 16 << 10, 1024, 1 << 20,
                                         "Largest request header block; larger: 431");
  const int64_t* max_url = config.Int("ISS_GATEWAY_MAX_URL_BYTES", 8 << 10, 256, 1 << 20,
                                      "Longest request target; longer: 414");
  const absl::Duration* read_timeout =
      config.Duration("ISS_GATEWAY_READ_TIMEOUT", absl::Seconds(30), absl::Milliseconds(100),
                      absl::Minutes(10), "Time allowed to receive one request's body (and write its response)");
  const absl::Duration* idle_timeout =
      config.Duration("ISS_GATEWAY_IDLE_TIMEOUT", absl::Seconds(60), absl::Milliseconds(100),
                      absl::Hours(1), "Keep-alive: how long a connection may wait for its next request headers");
  const absl::Duration* default_deadline =
      config.Duration("ISS_GATEWAY_DEFAULT_TIMEOUT", absl::Seconds(10), absl::Milliseconds(1),
                      absl::Minutes(10), "Upstream deadline when no Grpc-Timeout / X-Request-Timeout header is sent");
  const absl::Duration* max_deadline =
      config.Duration("ISS_GATEWAY_MAX_TIMEOUT", absl::Minutes(5), absl::Milliseconds(1),
                      absl::Hours(24), "Cap on a client-requested deadline");
  const double* rps = config.Double("ISS_GATEWAY_RATE_LIMIT_RPS", 50, 0, 1e6,
                                    "Requests per second per client IP (token bucket); 0 = off");
  const double* burst = config.Double("ISS_GATEWAY_RATE_LIMIT_BURST", 100, 0, 1e7,
                                      "Token bucket size per client IP; 0 = the rate");
  const std::string* cors = config.String(
      "ISS_GATEWAY_CORS_ORIGINS", "", "Comma-separated origins allowed by CORS, or *; empty = CORS off");
  const absl::Duration* heartbeat =
      config.Duration("ISS_GATEWAY_SSE_HEARTBEAT", absl::Seconds(15), absl::Milliseconds(100),
                      absl::Minutes(10), "Comment line sent on idle SSE streams");
  const int64_t* max_streams = config.Int("ISS_GATEWAY_MAX_STREAMS", 256, 1, 1 << 20,
                                          "Concurrent SSE streams in total; more: 503");
  const int64_t* max_streams_per_client =
      config.Int("ISS_GATEWAY_MAX_STREAMS_PER_CLIENT", 8, 1, 1 << 20,
                 "Concurrent SSE streams per client IP; more: 429");
  const absl::Duration* stream_write_timeout = config.Duration(
      "ISS_GATEWAY_STREAM_WRITE_TIMEOUT", absl::Seconds(30), absl::Milliseconds(100),
      absl::Minutes(10), "Time one SSE write may take; a client that stops reading is then cut off (upstream call cancelled)");
  const std::string* web_root = config.String(
      "ISS_GATEWAY_WEB_ROOT", "", "Serve the dashboard from this folder; empty = the copy compiled in");
  const int64_t* threads = config.Int("ISS_GATEWAY_THREADS", 2, 1, 64, "HTTP I/O threads");
  const absl::Duration* health_interval =
      config.Duration("ISS_GATEWAY_HEALTH_INTERVAL", absl::Seconds(5), absl::Milliseconds(50),
                      absl::Minutes(5), "How often upstreams are probed (grpc.health.v1) for /readyz");
  const absl::Duration* grace =
      config.Duration("ISS_GATEWAY_SHUTDOWN_GRACE", absl::Seconds(10), absl::ZeroDuration(),
                      absl::Minutes(5), "How long in-flight requests may finish after SIGTERM");
  const std::string* log_level = config.Enum("ISS_LOG_LEVEL", "info",
                                             {"debug", "info", "warn", "error"}, "Log level");
  config.LoadOrExit(argc, argv);

  iss::log::Init("gateway", iss::log::Level::kInfo);
  (void)iss::log::SetLevel(*log_level);
  for (const auto& [name, value] : config.Effective()) {
    iss::log::Debug("config", {{"name", name}, {"value", value}});
  }

  iss::gateway::Upstreams upstreams(
      iss::gateway::PlatformUpstreams(*ingest_addr, *storage_addr, *peebot_addr));
  iss::Health health;
  upstreams.StartHealthProbe(&health, *health_interval);

  auto routes = iss::gateway::RouteTable::Build(*google::protobuf::DescriptorPool::generated_pool(),
                                                upstreams.ServiceNames());
  if (!routes.ok()) {
    iss::log::Error("bad http annotations", {{"error", routes.status().ToString()}});
    return 1;
  }

  iss::gateway::ServerOptions options;
  options.address = *http_addr;
  options.threads = static_cast<int>(*threads);
  options.max_body_bytes = static_cast<size_t>(*max_body);
  options.max_header_bytes = static_cast<size_t>(*max_header);
  options.max_url_bytes = static_cast<size_t>(*max_url);
  options.read_timeout = *read_timeout;
  options.idle_timeout = *idle_timeout;
  options.default_deadline = *default_deadline;
  options.max_deadline = *max_deadline;
  options.rate_limit_rps = *rps;
  options.rate_limit_burst = *burst;
  options.cors_origins = absl::StrSplit(*cors, ',', absl::SkipWhitespace());
  options.sse_heartbeat = *heartbeat;
  options.max_streams = static_cast<int>(*max_streams);
  options.max_streams_per_client = static_cast<int>(*max_streams_per_client);
  options.stream_write_timeout = *stream_write_timeout;
  options.web_root = *web_root;
  auto server = iss::gateway::Server::Start(options, &*routes, &upstreams, &health);
  if (!server.ok()) {
    iss::log::Error("cannot start", {{"error", server.status().ToString()}});
    return 1;
  }
  iss::log::Info("gateway listening", {{"address", *http_addr},
                                       {"port", (*server)->port()},
                                       {"routes", routes->routes().size()}});

  iss::WaitForShutdown();
  iss::log::Info("shutting down", {});
  (*server)->Shutdown(*grace);
  return 0;
}
