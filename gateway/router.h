// Owns: what the gateway does with a request, decided from its method and
// target alone (no I/O, no state): a CORS preflight, an ops endpoint, a
// route listing, an API route (the annotation match), a wrong method, or
// else a static file or 404. Also the labels its metrics carry, and whether
// the per-client rate limit applies (never to probes and preflights).
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "gateway/route_table.h"

namespace iss::gateway {

struct RouteDecision {
  enum class Kind {
    kPreflight,         // OPTIONS with Access-Control-Request-Method
    kOps,               // /healthz, /readyz, /metrics
    kRouteListing,      // /api/v1/routes
    kOpenApi,           // /openapi.json
    kApi,               // an annotated RPC: `match`
    kMethodNotAllowed,  // a known path with another method (405)
    kStaticOrNotFound,  // a file of the web root when there is one, else 404
  };
  Kind kind = Kind::kStaticOrNotFound;
  // Labels of http_requests_total: the route template (or "preflight",
  // the path of an ops endpoint or listing, "unmatched") and the method
  // ("OTHER" for verbs we do not know); the connection sets "static".
  std::string route_label = "unmatched";
  std::string method_label = "OTHER";
  bool rate_limited = true;
  absl::string_view path;         // into the target given to Decide
  absl::string_view query;        // after '?', without it
  RouteTable::MatchResult match;  // kApi
};

// `method`: the request's method as sent ("GET"); `known_method`: whether it
// is a verb HTTP defines; `preflight_header`: Access-Control-Request-Method
// is present. `target` must outlive the decision (path and query view it).
RouteDecision Decide(const RouteTable& routes, absl::string_view method, bool known_method,
                     absl::string_view target, bool preflight_header);

}  // namespace iss::gateway
