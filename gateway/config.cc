#include "gateway/config.h"

#include "common/address_file.h"
#include "common/config.h"
#include "common/log.h"

namespace iss::gateway {

GatewayConfig LoadConfigOrExit(int argc, char** argv) {
  GatewayConfig c;
  ServerOptions& s = c.server;
  EnvConfig cfg("gateway");
  cfg.BindAddress(&s.address, "ISS_GATEWAY_HTTP_ADDR",
                  "Where the REST API, dashboard and ops endpoints listen");
  BindAddressFile(cfg, &c.address_file);
  cfg.BindAddress(&c.ingest_addr, "ISS_GATEWAY_INGEST_ADDR", "Ingestion service gRPC");
  cfg.BindAddress(&c.storage_addr, "ISS_GATEWAY_STORAGE_ADDR", "Storage service gRPC");
  cfg.BindAddress(&c.peebot_addr, "ISS_GATEWAY_PEEBOT_ADDR", "Pee-Bot service gRPC");
  cfg.Bind(&s.max_body_bytes, "ISS_GATEWAY_MAX_BODY_BYTES", 1, 64 << 20,
           "Largest request body; larger: 413");
  cfg.Bind(&s.max_header_bytes, "ISS_GATEWAY_MAX_HEADER_BYTES", 1024, 1 << 20,
           "Largest request header block; larger: 431");
  cfg.Bind(&s.max_url_bytes, "ISS_GATEWAY_MAX_URL_BYTES", 256, 1 << 20,
           "Longest request target; longer: 414");
  cfg.Bind(&s.read_timeout, "ISS_GATEWAY_READ_TIMEOUT", absl::Milliseconds(100), absl::Minutes(10),
           "Time allowed to receive one request's body (and write its response)");
  cfg.Bind(&s.idle_timeout, "ISS_GATEWAY_IDLE_TIMEOUT", absl::Milliseconds(100), absl::Hours(1),
           "Keep-alive: how long a connection may wait for its next request headers");
  cfg.Bind(&s.default_deadline, "ISS_GATEWAY_DEFAULT_TIMEOUT", absl::Milliseconds(1),
           absl::Minutes(10),
           "Upstream deadline when no Grpc-Timeout / X-Request-Timeout header is sent");
  cfg.Bind(&s.max_deadline, "ISS_GATEWAY_MAX_TIMEOUT", absl::Milliseconds(1), absl::Hours(24),
           "Cap on a client-requested deadline");
  cfg.Bind(&s.rate_limit_rps, "ISS_GATEWAY_RATE_LIMIT_RPS", 0, 1e6,
           "Requests per second per client IP (token bucket); 0 = off");
  cfg.Bind(&s.rate_limit_burst, "ISS_GATEWAY_RATE_LIMIT_BURST", 0, 1e7,
           "Token bucket size per client IP; 0 = the rate");
  cfg.BindList(&s.cors_origins, "ISS_GATEWAY_CORS_ORIGINS",
               "Comma-separated origins allowed by CORS, or *; empty = CORS off");
  cfg.Bind(&s.sse_heartbeat, "ISS_GATEWAY_SSE_HEARTBEAT", absl::Milliseconds(100),
           absl::Minutes(10), "Comment line sent on idle SSE streams");
  cfg.Bind(&s.max_streams, "ISS_GATEWAY_MAX_STREAMS", 1, 1 << 20,
           "Concurrent SSE streams in total; more: 503");
  cfg.Bind(&s.max_streams_per_client, "ISS_GATEWAY_MAX_STREAMS_PER_CLIENT", 1, 1 << 20,
           "Concurrent SSE streams per client IP; more: 429");
  cfg.Bind(&s.stream_write_timeout, "ISS_GATEWAY_STREAM_WRITE_TIMEOUT", absl::Milliseconds(100),
           absl::Minutes(10),
           "Time one SSE write may take; a client that stops reading is then cut off (upstream "
           "call cancelled)");
  cfg.Bind(&s.web_root, "ISS_GATEWAY_WEB_ROOT",
           "Serve the dashboard from this folder; empty = the copy compiled in");
  cfg.Bind(&s.threads, "ISS_GATEWAY_THREADS", 1, 64, "HTTP I/O threads");
  cfg.Bind(&c.health_interval, "ISS_GATEWAY_HEALTH_INTERVAL", absl::Milliseconds(50),
           absl::Minutes(5), "How often upstreams are probed (grpc.health.v1) for /readyz");
  cfg.Bind(&c.shutdown_grace, "ISS_GATEWAY_SHUTDOWN_GRACE", absl::ZeroDuration(), absl::Minutes(5),
           "How long in-flight requests may finish after SIGTERM");
  cfg.BindEnum(&c.log_level, "ISS_LOG_LEVEL", {"debug", "info", "warn", "error"}, "Log level");
  cfg.LoadOrExit(argc, argv);
  log::Init("gateway", log::Level::kInfo);
  (void)log::SetLevel(c.log_level);
  for (const auto& [name, value] : cfg.Effective()) {
    log::Debug("config", {{"name", name}, {"value", value}});
  }
  return c;
}

}  // namespace iss::gateway
