// Owns: the gateway's HTTP/1.1 server (Boost.Beast): connections, limits,
// keep-alive and pipelining (one request at a time per connection, answered
// in order), CORS, rate limiting, the ops endpoints (/healthz, /readyz,
// /metrics), route listings, static dashboard files, and dispatching API
// routes to upstream gRPC calls: unary as JSON, server-streaming as
// Server-Sent Events. Graceful shutdown drains in-flight requests.
#pragma once

#include <memory>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/health.h"
#include "gateway/route_table.h"
#include "gateway/upstreams.h"

namespace iss::gateway {

struct ServerOptions {
  std::string address = "127.0.0.1:8080";  // port 0 = ephemeral
  int threads = 2;
  size_t max_body_bytes = 1 << 20;                  // larger bodies: 413
  size_t max_header_bytes = 16 << 10;               // larger headers: 431
  size_t max_url_bytes = 8 << 10;                   // longer targets: 414
  absl::Duration read_timeout = absl::Seconds(30);  // headers + body of one request
  absl::Duration idle_timeout = absl::Seconds(60);  // keep-alive wait between requests
  absl::Duration default_deadline = absl::Seconds(10);
  absl::Duration max_deadline = absl::Minutes(5);
  double rate_limit_rps = 0;              // per client IP; 0 = off
  double rate_limit_burst = 0;            // bucket size; 0 = max(1, rps)
  std::vector<std::string> cors_origins;  // exact origins or "*"; empty = CORS off
  absl::Duration sse_heartbeat = absl::Seconds(15);
  // Each SSE stream holds a socket and an upstream call for as long as the
  // client likes, so their number is capped: beyond `max_streams` in total
  // 503, beyond `max_streams_per_client` from one client IP 429.
  int max_streams = 256;
  int max_streams_per_client = 8;
  // One SSE write (event, heartbeat) slower than this closes the stream and
  // cancels its upstream call: a client that stops reading lets go.
  absl::Duration stream_write_timeout = absl::Seconds(30);
  std::string web_root;  // empty = the embedded dashboard
};

class Server {
 public:
  // `routes`, `upstreams` and `health` are not owned and must outlive the server.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options,
                                                       const RouteTable* routes,
                                                       Upstreams* upstreams, Health* health);
  ~Server();  // Shutdown(0) if not done

  int port() const;
  // Stops accepting, ends live SSE streams, lets in-flight requests finish
  // for up to `grace`, then closes everything.
  void Shutdown(absl::Duration grace = absl::Seconds(10));

  struct Impl;

 private:
  explicit Server(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

// Parses a `Grpc-Timeout` header value ("100m", "5S", "1H"): gRPC's wire form.
absl::StatusOr<absl::Duration> ParseGrpcTimeout(absl::string_view text);

}  // namespace iss::gateway
