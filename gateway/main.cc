// iss-gateway: REST + Server-Sent Events in front of the platform's gRPC
// services, routes taken from the protos' google.api.http annotations, and the
// live dashboard as static files. Reads top to bottom as the pipeline:
// config -> upstream channels (+ health probe) -> route table -> HTTP server.
#include "common/address_file.h"
#include "common/log.h"
#include "common/runtime.h"
#include "common/shutdown.h"
#include "gateway/config.h"
#include "gateway/fronted.h"
#include "gateway/route_table.h"
#include "gateway/server.h"
#include "gateway/upstreams.h"

int main(int argc, char** argv) {
  using namespace iss;        // NOLINT: a main() wiring our own components
  ConfigureServiceRuntime();  // before any thread starts
  InstallShutdownSignals();
  const gateway::GatewayConfig config = gateway::LoadConfigOrExit(argc, argv);

  // --- upstream channels, probed for /readyz ----------------------------------
  gateway::Upstreams upstreams(
      gateway::PlatformUpstreams(config.ingest_addr, config.storage_addr, config.peebot_addr));
  Health health;
  upstreams.StartHealthProbe(&health, config.health_interval);

  // --- routes from the protos' annotations --------------------------------------
  auto routes = gateway::RouteTable::Build(*google::protobuf::DescriptorPool::generated_pool(),
                                           upstreams.ServiceNames());
  if (!routes.ok()) Fail("bad http annotations", routes.status());

  // --- the HTTP server, until SIGTERM ---------------------------------------------
  auto server = gateway::Server::Start(config.server, &*routes, &upstreams, &health);
  if (!server.ok()) Fail("cannot start", server.status());
  WriteAddressFileOrExit(config.address_file, {{"http", config.server.address, (*server)->port()}});
  log::Info("gateway listening", {{"address", config.server.address},
                                  {"port", (*server)->port()},
                                  {"routes", routes->routes().size()}});
  WaitForShutdown();
  log::Info("shutting down", {});
  (*server)->Shutdown(config.shutdown_grace);
  return 0;
}
