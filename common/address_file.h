// Owns: telling whoever started a binary where its listeners actually are.
// A listener configured with port 0 binds any free port, which only the
// binary knows: a test (or script) that starts it sets ISS_ADDRESS_FILE, and
// once every listener is up the binary writes one `name=host:port` line per
// listener there (the host as configured, the port as bound). The file
// appears whole or not at all (written beside it, then renamed), so a reader
// polling for it never sees half of it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace iss {

class EnvConfig;

// Declares ISS_ADDRESS_FILE on `cfg` (its one declaration): empty = no file.
void BindAddressFile(EnvConfig& cfg, std::string* path);

struct BoundListener {
  std::string name;        // "grpc", "ops", ...: the key in the file
  std::string configured;  // the listen address as configured: "127.0.0.1:0"
  int port = 0;            // the port it bound
};

// Writes `listeners` to `path`; does nothing when `path` is empty.
absl::Status WriteAddressFile(const std::string& path, const std::vector<BoundListener>& listeners);
// As above, or logs the error and exits 1 (a service at start-up).
void WriteAddressFileOrExit(const std::string& path, const std::vector<BoundListener>& listeners);

// The file read back: name -> "host:port". NotFound while it does not exist.
absl::StatusOr<std::map<std::string, std::string>> ReadAddressFile(const std::string& path);

}  // namespace iss
