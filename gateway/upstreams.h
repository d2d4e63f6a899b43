// Owns: the gRPC side of the gateway: one channel per upstream address (gRPC
// multiplexes every call over it), which service lives where, generic
// (ByteBuffer) unary and server-streaming calls, and the health probe of each
// upstream via grpc.health.v1 that feeds /readyz.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/health.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"

namespace iss::gateway {

struct UpstreamSpec {
  std::string name;                        // "storage": health dependency "upstream:storage"
  std::string address;                     // "127.0.0.1:50052"
  std::vector<std::string> service_names;  // "iss.storage.v1.StorageService"
};

class Upstreams {
 public:
  explicit Upstreams(std::vector<UpstreamSpec> specs);
  ~Upstreams();  // stops the health probe

  const std::vector<UpstreamSpec>& specs() const { return specs_; }
  std::vector<std::string> ServiceNames() const;

  // The stub for a fully qualified service name; nullptr if not fronted.
  grpc::GenericStub* StubFor(const std::string& service_name) const;

  // Declares one required dependency per upstream in `health` and probes each
  // with grpc.health.v1.Health/Check("") every `interval`.
  void StartHealthProbe(Health* health, absl::Duration interval);

 private:
  void ProbeOnce(Health* health);
  std::vector<UpstreamSpec> specs_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;   // per spec
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;  // per spec
  std::map<std::string, grpc::GenericStub*> by_service_;
  absl::Notification stop_;
  std::thread prober_;
};

}  // namespace iss::gateway
