// Owns: iss-gateway's configuration: every setting declared once (name,
// range, help; the default is the field's value below or in ServerOptions),
// read from the environment at start-up.
#pragma once

#include <string>

#include "absl/time/time.h"
#include "gateway/server.h"

namespace iss::gateway {

struct GatewayConfig {
  GatewayConfig() {
    // The library's default is no rate limit (tests, benchmarks); a deployed
    // gateway has one.
    server.rate_limit_rps = 50;
    server.rate_limit_burst = 100;
  }
  ServerOptions server;
  std::string ingest_addr = "127.0.0.1:50051";
  std::string storage_addr = "127.0.0.1:50052";
  std::string peebot_addr = "127.0.0.1:50053";
  absl::Duration health_interval = absl::Seconds(5);
  absl::Duration shutdown_grace = absl::Seconds(10);
  std::string log_level = "info";
  std::string address_file;  // ISS_ADDRESS_FILE (common/address_file.h)
};

// Reads the configuration; `--help` prints it and exits 0, bad values exit 2
// with one line per variable.
GatewayConfig LoadConfigOrExit(int argc, char** argv);

}  // namespace iss::gateway
