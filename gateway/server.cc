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

// One io_context per I/O thread, each run by that thread alone; a connection
// lives on one of them (round robin at accept). With several threads on one
// io_context every answer handed back from a gRPC thread woke a sleeping
// runner through a futex while another sat in epoll_wait, and the two traded
// the reactor: 16-17 context switches per latest-300 request in
// bench/gateway, 12 with a context per thread (issue 19). A connection's
// handlers ran one at a time on its strand before too, so pinning it to a
// thread takes no parallelism from it.
struct Server::Impl {
  Impl(const ServerOptions& o, const RouteTable* r, Upstreams* u, Health* h)
      : state(o, r, u, h),
        iocs(MakeContexts(std::max(1, o.threads))),
        acceptor(net::make_strand(*iocs.front())) {
    for (auto& ioc : iocs) keep_running.push_back(net::make_work_guard(*ioc));
  }

  static std::vector<std::unique_ptr<net::io_context>> MakeContexts(int n) {
    std::vector<std::unique_ptr<net::io_context>> out;
    for (int i = 0; i < n; ++i) out.push_back(std::make_unique<net::io_context>(1));
    return out;
  }

  void Accept() {
    // `next` is only touched here, on the acceptor's strand.
    net::io_context& home = *iocs[next++ % iocs.size()];
    acceptor.async_accept(net::make_strand(home),
                          [this](boost::system::error_code ec, tcp::socket socket) {
                            if (ec == net::error::operation_aborted || state.draining) return;
                            if (!ec) ServeConnection(std::move(socket), &state);
                            Accept();
                          });
  }

  // Declared before `iocs`: a connection still holding a stream slot (or
  // anything else of the state) lets go when its io_context is destroyed.
  GatewayState state;
  std::vector<std::unique_ptr<net::io_context>> iocs;
  // An io_context with no connection yet must not return from run().
  std::vector<net::executor_work_guard<net::io_context::executor_type>> keep_running;
  tcp::acceptor acceptor;
  size_t next = 0;
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
  for (auto& ioc : impl->iocs) {
    impl->threads.emplace_back([ioc = ioc.get()] { ioc->run(); });
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
  for (auto& ioc : impl_->iocs) ioc->stop();
  for (std::thread& t : impl_->threads) t.join();
  log::Info("gateway stopped", {{"in_flight_at_stop", state.active.load()}});
}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

}  // namespace iss::gateway
