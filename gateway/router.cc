#include "gateway/router.h"

#include <string>

namespace iss::gateway {

RouteDecision Decide(const RouteTable& routes, absl::string_view method, bool known_method,
                     absl::string_view target, bool preflight_header) {
  RouteDecision d;
  const size_t q = target.find('?');
  d.path = target.substr(0, q);
  d.query = q == absl::string_view::npos ? "" : target.substr(q + 1);
  if (known_method) d.method_label = std::string(method);
  const bool get = method == "GET";

  // CORS preflight: answered by the gateway, never forwarded.
  if (method == "OPTIONS" && preflight_header) {
    d.kind = RouteDecision::Kind::kPreflight;
    d.route_label = "preflight";
    d.rate_limited = false;
    return d;
  }
  // Ops endpoints are never rate limited: probes must not be starved.
  if (d.path == "/healthz" || d.path == "/readyz" || d.path == "/metrics") {
    d.kind = get ? RouteDecision::Kind::kOps : RouteDecision::Kind::kMethodNotAllowed;
    d.route_label = std::string(d.path);
    d.rate_limited = false;
    return d;
  }
  if (d.path == "/api/v1/routes" || d.path == "/openapi.json") {
    d.route_label = std::string(d.path);
    d.kind = !get                        ? RouteDecision::Kind::kMethodNotAllowed
             : d.path == "/openapi.json" ? RouteDecision::Kind::kOpenApi
                                         : RouteDecision::Kind::kRouteListing;
    return d;
  }
  d.match = routes.Match(std::string(method), d.path);
  if (d.match.outcome == RouteTable::Outcome::kFound) {
    d.kind = RouteDecision::Kind::kApi;
    d.route_label = d.match.route->path.text();
    d.method_label = d.match.route->http_method;
    return d;
  }
  if (d.match.outcome == RouteTable::Outcome::kMethodNotAllowed) {
    d.kind = RouteDecision::Kind::kMethodNotAllowed;
    return d;
  }
  d.kind = RouteDecision::Kind::kStaticOrNotFound;
  return d;
}

}  // namespace iss::gateway
