#include "common/net.h"

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace iss::net {

std::string HostPort::ToString() const {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<HostPort> ParseHostPort(std::string_view text) {
  const auto bad = [] {
    return absl::InvalidArgumentError(
        "expected host:port with a port in [0, 65535] ([::1]:port for an IPv6 address)");
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad();
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return bad();
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos || host.find(']') != std::string_view::npos) {
    return bad();  // an unbracketed IPv6 literal: which colon starts the port is a guess
  }
  uint32_t port = 0;
  if (host.empty() || port_text.empty() ||
      port_text.find_first_not_of("0123456789") != std::string_view::npos ||
      !absl::SimpleAtoi(AsAbsl(port_text), &port) || port > 65535) {
    return bad();
  }
  return HostPort{std::string(host), static_cast<uint16_t>(port)};
}

}  // namespace iss::net
