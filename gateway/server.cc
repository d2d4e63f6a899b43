#include <utility>  // before any Asio header (Boost 1.74 + g++ 12)

#include "gateway/server.h"

#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "boost/asio.hpp"
#include "common/endpoint.h"
#include "common/log.h"
#include "gateway/connection.h"

namespace iss::gateway {

namespace net = boost::asio;
using tcp = net::ip::tcp;

absl::StatusOr<absl::Duration> ParseGrpcTimeout(absl::string_view text) {
  if (text.size() < 2 || text.size() > 9) {
    return absl::InvalidArgumentError(absl::StrCat("bad Grpc-Timeout \"", text, "\""));
  }
  int64_t n;
  if (!absl::SimpleAtoi(text.substr(0, text.size() - 1), &n) || n < 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad Grpc-Timeout \"", text, "\""));
  }
  switch (text.back()) {
    case 'H':
      return absl::Hours(n);
    case 'M':
      return absl::Minutes(n);
    case 'S':
      return absl::Seconds(n);
    case 'm':
      return absl::Milliseconds(n);
    case 'u':
      return absl::Microseconds(n);
    case 'n':
      return absl::Nanoseconds(n);
  }
  return absl::InvalidArgumentError(absl::StrCat("bad Grpc-Timeout unit in \"", text, "\""));
}

struct Server::Impl {
  Impl(const ServerOptions& o, const RouteTable* r, Upstreams* u, Health* h)
      : state(o, r, u, h), acceptor(net::make_strand(ioc)) {}

  void Accept() {
    acceptor.async_accept(net::make_strand(ioc),
                          [this](boost::system::error_code ec, tcp::socket socket) {
                            if (ec == net::error::operation_aborted || state.draining) return;
                            if (!ec) ServeConnection(std::move(socket), &state);
                            Accept();
                          });
  }

  // Declared before `ioc`: a connection still holding a stream slot (or
  // anything else of the state) lets go when `ioc` is destroyed.
  GatewayState state;
  net::io_context ioc;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  std::atomic<bool> stopped{false};
  int port = 0;
};

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options,
                                                      const RouteTable* routes,
                                                      Upstreams* upstreams, Health* health) {
  auto impl = std::make_shared<Impl>(options, routes, upstreams, health);
  const absl::StatusOr<tcp::endpoint> listen = iss::net::ListenEndpoint(options.address);
  if (!listen.ok()) return listen.status();
  const tcp::endpoint& ep = *listen;
  boost::system::error_code ec;
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("listening on ", options.address, ": ", ec.message()));
  }
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  for (int i = 0; i < std::max(1, options.threads); ++i) {
    impl->threads.emplace_back([raw = impl.get()] { raw->ioc.run(); });
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::port() const { return impl_->port; }

void Server::Shutdown(absl::Duration grace) {
  if (impl_->stopped.exchange(true)) return;
  GatewayState& state = impl_->state;
  state.draining = true;
  state.health->SetShuttingDown();
  net::post(impl_->acceptor.get_executor(), [impl = impl_.get()] {
    boost::system::error_code ec;
    impl->acceptor.close(ec);
  });
  // Live streams never end on their own: end them now (each gets its final
  // event); unary calls keep running until done or the grace period ends.
  const absl::Time deadline = absl::Now() + grace;
  state.calls.CancelAll(/*streams_only=*/true);
  while (absl::Now() < deadline && (state.active.load() > 0 || state.calls.InFlight() > 0)) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  // Cancel what is left; a handler still running can start no call after
  // this (CallTracker::Track refuses), so once none is left none will be.
  state.calls.CancelAllAndClose();
  state.calls.WaitUntilNone();
  impl_->ioc.stop();
  for (std::thread& t : impl_->threads) t.join();
  log::Info("gateway stopped", {{"in_flight_at_stop", state.active.load()}});
}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

}  // namespace iss::gateway
