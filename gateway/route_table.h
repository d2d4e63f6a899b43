// Owns: the REST routes, built at start-up from the google.api.http annotations
// of the services the gateway fronts (read from the compiled descriptors), and
// finding the route for an HTTP method + path.
//
// Nothing here is hand-written per RPC: a new annotated RPC in a fronted
// service becomes a route when the gateway is rebuilt against the new protos.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/path_template.h"
#include "google/protobuf/descriptor.h"

namespace iss::gateway {

struct Route {
  std::string http_method;  // "GET", "POST", "PUT", "PATCH", "DELETE" or a custom kind
  PathTemplate path;
  const google::protobuf::MethodDescriptor* method = nullptr;
  std::string grpc_path;      // "/iss.storage.v1.StorageService/GetSeries"
  std::string body;           // "", "*" or a top-level field name
  std::string response_body;  // "" or a top-level response field name
  bool server_streaming = false;
  bool admin = false;  // (iss.options.v1.admin): needs a bearer token upstream
  // What a success is answered with: (iss.options.v1.http_success_status),
  // else 200. Always 200 for server streaming (SSE).
  int success_status = 200;
};

class RouteTable {
 public:
  // One route per http rule (and per additional binding) of every method of
  // the named services. Errors name the method whose annotation (or
  // http_success_status) is invalid.
  static absl::StatusOr<RouteTable> Build(const google::protobuf::DescriptorPool& pool,
                                          const std::vector<std::string>& service_names);

  enum class Outcome { kFound, kNotFound, kMethodNotAllowed };
  struct MatchResult {
    Outcome outcome = Outcome::kNotFound;
    const Route* route = nullptr;
    PathTemplate::Bindings bindings;
  };
  // `method` is the HTTP method ("HEAD" is not mapped), `path` has no query.
  MatchResult Match(absl::string_view method, absl::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;  // most specific first
};

}  // namespace iss::gateway
