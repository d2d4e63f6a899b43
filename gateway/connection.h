// Owns: one HTTP/1.1 connection of the gateway (Boost.Beast), and the state
// all connections of a server share (GatewayState). A connection reads,
// answers and writes requests strictly one after another (which makes
// pipelining safe): framing checks (http_framing.h), limits, CORS, rate
// limiting, then what the router decided: ops endpoints, listings, static
// files, or an API route through the unary or SSE bridge. It also streams
// SSE (events, heartbeats, the closing status event) and closes politely.
#pragma once

#include <utility>  // before any Asio header (Boost 1.74 + g++ 12)

#include <atomic>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "boost/asio/ip/tcp.hpp"
#include "common/health.h"
#include "gateway/call_tracker.h"
#include "gateway/rate_limiter.h"
#include "gateway/route_table.h"
#include "gateway/server.h"
#include "gateway/stream_slots.h"
#include "gateway/upstreams.h"
#include "gateway/web_assets.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"

namespace iss::gateway {

// What every connection of one server uses. Outlives its connections (the
// server destroys it after its io_context).
struct GatewayState {
  GatewayState(const ServerOptions& options, const RouteTable* routes, Upstreams* upstreams,
               Health* health);

  bool OriginAllowed(absl::string_view origin) const;
  // One answered request in http_requests_total and its duration.
  void Observe(const std::string& route, const std::string& method, int code, absl::Time start);

  const ServerOptions options;
  const RouteTable* routes;
  Upstreams* upstreams;
  Health* health;
  WebAssets assets;
  RateLimiter limiter;
  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& durations;
  prometheus::Gauge& open_streams;
  prometheus::Counter& sse_events;  // events sent on SSE streams
  prometheus::Counter& sse_writes;  // socket writes that carried them
  StreamSlots slots;
  CallTracker calls;
  const std::string routes_json;
  const std::string openapi_json;
  std::atomic<bool> draining{false};
  std::atomic<int> active{0};  // requests between their head and their answer
};

// Serves `socket` until the connection closes.
void ServeConnection(boost::asio::ip::tcp::socket socket, GatewayState* state);

}  // namespace iss::gateway
