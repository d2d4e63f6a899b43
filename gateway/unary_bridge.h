// Owns: one unary upstream call of an API route: the request message to
// gRPC (generic stub, the route's method path, deadline, Authorization as
// metadata), the response bytes to the route's JSON, or the gRPC error.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "gateway/call_tracker.h"
#include "gateway/route_table.h"
#include "google/protobuf/message.h"
#include "grpcpp/generic/generic_stub.h"

namespace iss::gateway {

struct UnaryAnswer {
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string json;     // OK: the response (or its response_body field) as JSON
  std::string message;  // otherwise: the error message
  std::string details;  // otherwise: google.rpc.Status details (binary), if any
};

// Starts the call; `done` runs once, on a gRPC thread (or at once with
// UNAVAILABLE when the server is shutting down: no call is started then).
// The call is tracked in `calls` until after `done` returns.
void CallUnary(grpc::GenericStub& stub, const Route& route,
               const google::protobuf::Message& request, absl::Duration deadline,
               const std::optional<std::string>& authorization, CallTracker& calls,
               std::function<void(UnaryAnswer)> done);

}  // namespace iss::gateway
