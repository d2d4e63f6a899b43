// Owns: starting a gRPC server the same way in every service.
//
// What every server gets:
//   - server reflection (grpcurl list/describe work with no proto files);
//   - the standard grpc.health.v1 service, mirrored from a Health object
//     ("" = whole server, plus each registered service's full name), with its
//     descriptor in the pool so reflection resolves it too (Check and Watch
//     from a client that has no proto files);
//   - auth: RPCs whose method descriptor has `(iss.options.v1.admin) = true`
//     need metadata `authorization: Bearer <token>`; missing -> UNAUTHENTICATED,
//     wrong -> PERMISSION_DENIED. Compared in constant time. If no token is
//     configured, admin RPCs are refused (PERMISSION_DENIED): never open.
//     gRPC C++ server interceptors cannot stop a call before its handler runs
//     (grpc/grpc#24017), so an admin handler's first line is
//       if (auto s = iss::AuthorizeAdmin(*ctx); !s.ok()) return iss::ToGrpc(s);
//     and the server's interceptor is the safety net: an admin method that
//     answers OK to an unauthorised caller has its status replaced by
//     PERMISSION_DENIED and is logged + counted (iss_grpc_admin_unchecked_total);
//   - metrics: grpc_server_started_total, grpc_server_handled_total
//     {grpc_service,grpc_method,grpc_code} and grpc_server_handling_seconds;
//     a method this binary does not know (not in its descriptor pool) counts
//     as grpc_service="unknown", grpc_method="unknown", so clients cannot
//     create series at will;
//   - graceful shutdown: Shutdown() stops accepting, lets in-flight calls finish
//     until the deadline, then cancels the rest.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/health.h"
#include "grpcpp/grpcpp.h"

namespace iss {

struct GrpcServerOptions {
  std::string address;                   // "0.0.0.0:50051"; port 0 = ephemeral
  std::string admin_token;               // empty = admin RPCs always refused
  std::vector<grpc::Service*> services;  // not owned; must outlive the server
  Health* health = nullptr;              // not owned; required
  // Full names ("iss.storage.v1.StorageService") that also get a per-service
  // health status, besides "" (the whole server).
  std::vector<std::string> service_names;
  // Largest request message accepted. gRPC refuses a bigger one with
  // RESOURCE_EXHAUSTED before parsing it; a parsed message costs up to ~30x
  // its wire size in memory (a repeated string field of empty strings: ~64
  // bytes of heap per 2 wire bytes), so each service sets this to what its
  // largest legitimate request needs (gRPC C++ has no per-method limit; the
  // handlers check list lengths and string sizes before any work). The
  // default is gRPC's own.
  int max_receive_bytes = 4 << 20;
  // Largest response (pages of events; the server decides their size).
  int max_send_bytes = 16 << 20;
};

// The options of a service binary's server: one service, with its full name
// for the health service, behind the admin token, accepting messages up to
// `max_receive_bytes`.
GrpcServerOptions ServiceGrpcOptions(std::string address, std::string admin_token,
                                     grpc::Service* service, std::string service_name,
                                     Health* health, int max_receive_bytes);

struct HealthLink;

class GrpcServer {
 public:
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const GrpcServerOptions& options);
  ~GrpcServer();

  int port() const { return port_; }
  grpc::Server* server() { return server_.get(); }
  // Stops accepting calls and waits up to `grace` for in-flight ones.
  void Shutdown(absl::Duration grace = absl::Seconds(10));

 private:
  GrpcServer() = default;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<HealthLink> health_link_;
  int port_ = 0;
  bool shut_down_ = false;
};

// Checks the bearer token of the call against the process's admin token (set
// by GrpcServer::Start; one per process). See the comment at the top.
absl::Status AuthorizeAdmin(const grpc::ServerContextBase& ctx);
// Sets the token AuthorizeAdmin compares with (GrpcServer::Start calls it).
void SetAdminToken(const std::string& token);

// True when the fully qualified method ("/pkg.Service/Method") is marked admin
// in the generated descriptor pool.
bool IsAdminMethod(const std::string& full_method);

// Attaches `authorization: Bearer <token>` to a client call.
void AddBearer(grpc::ClientContext* ctx, const std::string& token);

}  // namespace iss
