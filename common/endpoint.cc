#include "common/endpoint.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/net.h"
#include "common/strings.h"

namespace iss::net {

absl::StatusOr<boost::asio::ip::tcp::endpoint> ListenEndpoint(std::string_view address) {
  absl::StatusOr<HostPort> hp = ParseHostPort(address);
  if (!hp.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", AsAbsl(address), "\": ", hp.status().message()));
  }
  boost::system::error_code ec;
  const auto ip = boost::asio::ip::make_address(hp->host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", AsAbsl(address), "\": the host must be an IP address"));
  }
  return boost::asio::ip::tcp::endpoint(ip, hp->port);
}

}  // namespace iss::net
