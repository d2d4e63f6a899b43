// Owns: iss-storage's configuration: every setting declared once (name,
// range, help; the default is the field's value below or in the options
// struct it fills), read from the environment at start-up.
#pragma once

#include <cstddef>
#include <string>

#include "absl/time/time.h"
#include "services/storage/query_request.h"
#include "services/storage/sink.h"

namespace iss::storage {

struct StorageConfig {
  StorageConfig() {
    sink.brokers = "127.0.0.1:19092";
    // The sink's own default keeps every day (tests); a deployed storage
    // drops day partitions older than this.
    retention = absl::Hours(720);
  }
  std::string dsn;  // required
  SinkOptions sink;
  absl::Duration session_timeout = absl::Seconds(45);  // consumer group
  absl::Duration retention;
  QueryLimits limits;
  int query_conns = 4;
  size_t tail_buffer = 10000;
  absl::Duration upkeep_interval = absl::Hours(1);
  bool migrate = false;
  std::string grpc_addr = "127.0.0.1:50052";
  std::string ops_addr = "127.0.0.1:9102";
  std::string address_file;  // ISS_ADDRESS_FILE (common/address_file.h)
  std::string admin_token;
  std::string log_level = "info";
};

// Reads the configuration; `--help` prints it and exits 0, bad values exit 2
// with one line per variable, a malformed ISS_PG_DSN exits 1.
StorageConfig LoadConfigOrExit(int argc, char** argv);

}  // namespace iss::storage
