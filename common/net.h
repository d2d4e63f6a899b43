// Owns: the one "host:port" parser. Addresses come from configuration and
// command lines in three shapes: "name:80", "10.0.0.1:80" and "[::1]:80"
// (brackets are how an IPv6 literal carries a port, RFC 3986 3.2.2).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace iss::net {

struct HostPort {
  std::string host;  // without brackets: "::1", not "[::1]"
  uint16_t port = 0;

  // Back to text, brackets restored for an IPv6 host: "[::1]:80".
  std::string ToString() const;
  bool operator==(const HostPort&) const = default;
};

// Parses "host:port" with a port in [0, 65535] (0: an ephemeral port, for
// tests). An IPv6 host must be bracketed; an empty host is refused. The
// error says what was expected; the caller names the setting or argument.
absl::StatusOr<HostPort> ParseHostPort(std::string_view text);

}  // namespace iss::net
