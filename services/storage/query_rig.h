// Test helper: the query side of iss-storage on loopback, wired as main()
// wires it (connection pool -> QueryStore -> StorageServiceImpl with a
// TailHub, on a GrpcServer) plus a stub to call it. Shared by the query and
// replay suites; the database (dsn) is the caller's, seeded as it likes.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_server.h"
#include "common/health.h"
#include "iss/storage/v1/storage.grpc.pb.h"
#include "services/storage/conn_pool.h"
#include "services/storage/query_store.h"
#include "services/storage/storage_service.h"
#include "services/storage/tail_hub.h"

namespace iss::storage::testutil {

struct QueryRig {
  static absl::StatusOr<std::unique_ptr<QueryRig>> Start(std::string dsn, size_t pool_size,
                                                         const QueryLimits& limits) {
    auto rig = std::make_unique<QueryRig>();
    rig->dsn = std::move(dsn);
    rig->pool = std::make_unique<ConnectionPool>(rig->dsn, pool_size);
    rig->store = std::make_unique<QueryStore>(rig->pool.get(), limits);
    rig->hub = std::make_unique<TailHub>(50);
    rig->service =
        std::make_unique<StorageServiceImpl>(rig->store.get(), rig->hub.get(), nullptr, "g");
    GrpcServerOptions opts;
    opts.address = "127.0.0.1:0";
    opts.services = {rig->service.get()};
    opts.health = &rig->health;
    opts.max_receive_bytes = kMaxRequestBytes;
    auto server = GrpcServer::Start(opts);
    if (!server.ok()) return server.status();
    rig->server = *std::move(server);
    rig->stub = iss::storage::v1::StorageService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", rig->server->port()), grpc::InsecureChannelCredentials()));
    return rig;
  }
  // Streams end first (hub closed), then the server; the members after that.
  ~QueryRig() {
    if (hub) hub->Close();
    if (server) server->Shutdown(absl::Seconds(2));
  }

  std::string dsn;
  std::unique_ptr<ConnectionPool> pool;
  std::unique_ptr<QueryStore> store;
  std::unique_ptr<TailHub> hub;
  std::unique_ptr<StorageServiceImpl> service;
  Health health;
  std::unique_ptr<GrpcServer> server;
  std::unique_ptr<iss::storage::v1::StorageService::Stub> stub;
};

}  // namespace iss::storage::testutil
