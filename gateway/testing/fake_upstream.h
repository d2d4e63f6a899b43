// Owns: a real gRPC upstream for gateway tests and benchmarks. Any service
// in the descriptor pool is served (raw ByteBuffer callback methods, one per
// RPC of its descriptor) inside the platform's own iss::GrpcServer, so auth,
// health and metrics are the production ones. Every call is recorded (method,
// request bytes, metadata, deadline); replies come from per-method handlers.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/grpc_server.h"
#include "common/health.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"

namespace iss::gateway::testing {

class FakeUpstream {
 public:
  struct Call {
    std::string method;   // "/pkg.Service/Method"
    std::string request;  // serialized request
    std::multimap<std::string, std::string> metadata;
    absl::Duration deadline_left = absl::InfiniteDuration();
  };
  // Unary handler: fills `response` (serialized) and returns a status, or
  // nullopt to never answer (the call then ends when the client cancels).
  using Handler =
      std::function<std::optional<grpc::Status>(const Call& call, std::string* response)>;

  FakeUpstream(std::vector<std::string> service_names, std::string admin_token);
  ~FakeUpstream();

  absl::Status Start();
  std::string address() const;

  // Unary replies. Default: OK with an empty message.
  void OnCall(const std::string& method, Handler handler);
  void Reply(const std::string& method, const google::protobuf::Message& response);
  // Server streams: each new call gets `messages`, then ends OK unless `hold`,
  // in which case it stays open for Push() until the client cancels.
  void Stream(const std::string& method, std::vector<std::string> messages, bool hold);
  // Sends a message on every held stream of `method`; returns how many got it.
  int Push(const std::string& method, const google::protobuf::Message& message);

  std::vector<Call> Calls() const;
  std::optional<Call> LastCall(const std::string& method) const;
  int OpenStreams() const;
  int CancelledCalls() const;
  Health& health() { return health_; }

  struct State;  // shared with the reactors

 private:
  std::vector<std::string> service_names_;
  std::string admin_token_;
  std::shared_ptr<State> state_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  Health health_;
  std::unique_ptr<GrpcServer> server_;
};

}  // namespace iss::gateway::testing
