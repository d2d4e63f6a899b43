// What every service binary (ingestion, storage, Pee-Bot) listens on: its gRPC
// API and the ops server (/healthz, /readyz, /metrics). Started together, or
// the process exits naming the one that failed; once both are up their bound
// addresses go to the address file (ISS_ADDRESS_FILE), so whoever started the
// process learns the ports it bound.
#ifndef ISS_COMMON_SERVICE_SERVERS_H_
#define ISS_COMMON_SERVICE_SERVERS_H_

#include <memory>
#include <string>

#include "common/grpc_server.h"
#include "common/ops_server.h"

namespace iss {

struct ServiceServers {
  std::unique_ptr<GrpcServer> grpc;
  std::unique_ptr<OpsServer> ops;
};

// `grpc.health` also serves the ops server's /healthz and /readyz.
ServiceServers StartServiceServersOrExit(const GrpcServerOptions& grpc,
                                         const std::string& ops_address,
                                         const std::string& address_file);

}  // namespace iss

#endif  // ISS_COMMON_SERVICE_SERVERS_H_
