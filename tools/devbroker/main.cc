// iss-devbroker: an in-memory Kafka-protocol broker for development, so the
// platform runs on a laptop without Kafka. librdkafka's mock cluster with the
// platform's topics, reachable at a fixed loopback bootstrap address.
//
//   config -> mock cluster + topics -> fixed bootstrap address (relays with
//   advertised addresses for clients on other hosts) -> ops HTTP -> wait for SIGTERM
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/address_file.h"
#include "common/config.h"
#include "common/health.h"
#include "common/log.h"
#include "common/net.h"
#include "common/ops_server.h"
#include "common/shutdown.h"
#include "tools/devbroker/dev_broker.h"

namespace {

constexpr char kBanner[] =
    "\n"
    "  ***************************************************************\n"
    "  *  iss-devbroker: IN-MEMORY KAFKA FOR DEVELOPMENT ONLY          *\n"
    "  *  Nothing is persisted; everything is lost on exit.            *\n"
    "  *  Old batches are silently dropped past ~5 MiB per partition.  *\n"
    "  *  Never point production services at it.                       *\n"
    "  ***************************************************************\n\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace iss;
  InstallShutdownSignals();

  EnvConfig cfg("devbroker");
  const auto* addr = cfg.Address("ISS_DEVBROKER_ADDR", "127.0.0.1:19092",
                                 "Fixed bootstrap address clients use (port 0 = any free port)");
  const auto* brokers = cfg.Int("ISS_DEVBROKER_BROKERS", 1, 1, 5, "Number of mock brokers");
  const auto* raw_partitions =
      cfg.Int("ISS_DEVBROKER_RAW_PARTITIONS", 12, 1, 1000, "Partitions of telemetry.raw.v1");
  const auto* advertise = cfg.String(
      "ISS_DEVBROKER_ADVERTISE_HOST", "",
      "Host name clients on other hosts reach this one by (a container's service name): "
      "mock broker i is relayed on the ISS_DEVBROKER_ADDR port + i - 1 and named "
      "<host>:<port> in metadata; empty = clients on this host follow the mock's loopback ports");
  const auto* ops_addr =
      cfg.String("ISS_DEVBROKER_OPS_ADDR", "", "/healthz, /readyz, /metrics address; empty = none");
  const auto* log_level =
      cfg.Enum("ISS_LOG_LEVEL", "info", {"debug", "info", "warn", "error"}, "Minimum log level");
  std::string address_file;
  BindAddressFile(cfg, &address_file);
  cfg.Check([ops_addr] {
    if (ops_addr->empty()) return std::string();
    const absl::StatusOr<net::HostPort> hp = net::ParseHostPort(*ops_addr);
    return hp.ok() ? std::string()
                   : absl::StrCat("ISS_DEVBROKER_OPS_ADDR=\"", *ops_addr,
                                  "\": ", hp.status().message(), ", or empty");
  });
  cfg.LoadOrExit(argc, argv);
  log::Init("devbroker", log::Level::kInfo);
  (void)log::SetLevel(*log_level);
  for (const auto& [name, value] : cfg.Effective()) log::Info("config", {{name, value}});

  std::cerr << kBanner;
  log::Warn("in-memory broker for development only: data is not persisted");

  devbroker::DevBrokerOptions options;
  options.address = *addr;
  options.brokers = static_cast<int>(*brokers);
  options.advertise_host = *advertise;
  options.topics = {{"telemetry.raw.v1", static_cast<int>(*raw_partitions)},
                    {"telemetry.dlq.v1", 1}};
  Health health;
  health.Declare("mock_cluster");
  auto broker = devbroker::DevBroker::Start(options);
  if (!broker.ok()) {
    log::Error("devbroker failed to start", {{"error", std::string(broker.status().message())}});
    return 1;
  }
  health.Set("mock_cluster", true, (*broker)->bootstrap());
  std::unique_ptr<OpsServer> ops;
  if (!ops_addr->empty()) {
    auto started = OpsServer::Start(*ops_addr, &health);
    if (!started.ok()) {
      log::Error("ops server failed to start",
                 {{"error", std::string(started.status().message())}});
      return 1;
    }
    ops = std::move(*started);
  }
  // "kafka": the bootstrap address clients use (the advertised host, if any).
  const std::string bootstrap = (*broker)->bootstrap();
  std::vector<BoundListener> bound = {
      {"kafka", bootstrap, net::ParseHostPort(bootstrap).value_or(net::HostPort{}).port}};
  if (ops) bound.push_back({"ops", *ops_addr, ops->port()});
  WriteAddressFileOrExit(address_file, bound);
  log::Info("devbroker ready", {{"bootstrap", (*broker)->bootstrap()},
                                {"mock_brokers", (*broker)->mock_bootstrap()},
                                {"topics", "telemetry.raw.v1,telemetry.dlq.v1"},
                                {"ops_port", ops ? ops->port() : 0}});
  std::cerr << "  ISS_KAFKA_BROKERS=" << (*broker)->bootstrap() << "\n\n";

  WaitForShutdown();
  health.SetShuttingDown();
  log::Info("devbroker stopping", {{"connections_served", (*broker)->connections()}});
  broker->reset();
  return 0;
}
