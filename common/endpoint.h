// Owns: turning a configured listen address ("127.0.0.1:8080", "[::]:0")
// into the endpoint a Boost.Asio acceptor binds. The host must be an IP
// literal: a listener never resolves names, so it binds exactly what the
// configuration says.
#pragma once

#include <string_view>
#include <utility>  // before Asio: Boost 1.74 + g++ 12 (stack.md pitfall 7)

#include "absl/status/statusor.h"
#include "boost/asio/ip/tcp.hpp"

namespace iss::net {

absl::StatusOr<boost::asio::ip::tcp::endpoint> ListenEndpoint(std::string_view address);

}  // namespace iss::net
