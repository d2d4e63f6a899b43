#include "common/service_servers.h"

#include "common/address_file.h"
#include "common/runtime.h"

namespace iss {

ServiceServers StartServiceServersOrExit(const GrpcServerOptions& grpc,
                                         const std::string& ops_address,
                                         const std::string& address_file) {
  auto grpc_server = GrpcServer::Start(grpc);
  if (!grpc_server.ok()) Fail("gRPC server failed to start", grpc_server.status());
  auto ops = OpsServer::Start(ops_address, grpc.health);
  if (!ops.ok()) Fail("ops server failed to start", ops.status());
  WriteAddressFileOrExit(address_file, {{"grpc", grpc.address, (*grpc_server)->port()},
                                        {"ops", ops_address, (*ops)->port()}});
  return {*std::move(grpc_server), *std::move(ops)};
}

}  // namespace iss
