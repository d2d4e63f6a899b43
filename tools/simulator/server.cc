// The simulator's Beast side: start and stop, the listeners, the HTTP upgrade
// with subprotocol negotiation, and one reader and one writer coroutine per
// connection. What the requests do is server_requests.cc; the model tick and
// the faults are server_clock.cc (server_impl.h lists the parts).
// clang-format off
#include <utility>  // before Asio (g++ 12 + Boost 1.74)
// clang-format on

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/catalog.h"
#include "common/endpoint.h"
#include "tools/simulator/server_impl.h"

namespace iss::sim {
namespace {

constexpr size_t kMaxOutbox = 200000;
constexpr size_t kMaxFrameBytes = 256 << 10;  // lines queued for a stalled client before we drop it

// Picks the TLCP subprotocol from an offered list ("a, b, c").
std::string ChooseSubprotocol(std::string_view offered) {
  for (absl::string_view p :
       absl::StrSplit(absl::string_view(offered.data(), offered.size()), ',')) {
    p = absl::StripAsciiWhitespace(p);
    if (absl::StartsWith(p, "TLCP-2.") && absl::EndsWith(p, ".lightstreamer.com")) {
      return std::string(p);
    }
  }
  return "";
}

}  // namespace

Simulator::Impl::Impl(Scenario sc, SimulatorOptions opts)
    : scenario(std::move(sc)),
      options(std::move(opts)),
      model(scenario, Items(options), options.epoch),
      acceptor(ioc),
      control_acceptor(ioc) {
  refuse_code = options.refuse_sessions_code;
  if (options.rate >= 0) model.SetRate(options.rate);
}

std::vector<std::string> Simulator::Impl::Items(const SimulatorOptions& o) {
  if (!o.items.empty()) return o.items;
  std::vector<std::string> items;
  for (const CatalogItem& c : Catalog::Embedded().items()) items.push_back(c.item_id);
  if (std::find(items.begin(), items.end(), kTimeItem) == items.end()) {
    items.emplace_back(kTimeItem);
  }
  return items;
}

void Simulator::Impl::Send(const std::shared_ptr<Conn>& c, std::string line,
                           std::optional<SentUpdate> record) {
  if (c->closed) return;
  if (c->outbox.size() >= kMaxOutbox) {
    // A client that stopped reading: let it go rather than grow without bound.
    Kill(c);
    return;
  }
  c->outbox.push_back({std::move(line), std::move(record)});
  c->wake.cancel();
}

void Simulator::Impl::RecordWritten(std::vector<SentUpdate> records) {
  if (records.empty()) return;
  {
    absl::MutexLock lock(&mu);
    stats.updates_sent += records.size();
    if (options.record) {
      for (SentUpdate& r : records) sent.push_back(std::move(r));
    }
  }
}

void Simulator::Impl::Kill(const std::shared_ptr<Conn>& c) {
  boost::system::error_code ignored;
  beast::get_lowest_layer(c->ws).socket().close(ignored);
  c->closed = true;
  c->wake.cancel();
}

asio::awaitable<void> Simulator::Impl::Writer(std::shared_ptr<Conn> c) {
  boost::system::error_code ec;
  auto ok = asio::redirect_error(asio::use_awaitable, ec);
  while (!c->closed) {
    const absl::Time now = absl::Now();
    const bool stalled = now < c->stalled_until;
    if (c->outbox.empty() || stalled) {
      absl::Time wake_at = stalled ? c->stalled_until : absl::InfiniteFuture();
      if (!stalled && c->session != nullptr) {
        const absl::Time probe_at = c->last_write + c->session->keepalive;
        if (now >= probe_at) {
          // Nothing to say for a keep-alive period: PROBE, as the server does.
          c->outbox.push_back({"PROBE", std::nullopt});
          Count(&SimulatorStats::probes_sent);
          continue;
        }
        wake_at = probe_at;
      }
      if (wake_at == absl::InfiniteFuture()) wake_at = now + absl::Hours(1);
      c->wake.expires_after(
          absl::ToChronoNanoseconds(std::max(absl::ZeroDuration(), wake_at - now)));
      co_await c->wake.async_wait(ok);
      continue;
    }
    // Several lines per WebSocket message, as Lightstreamer does, but
    // bounded so a backlog never turns into one giant message.
    std::string frame;
    std::vector<SentUpdate> records;
    while (!c->outbox.empty() && frame.size() < kMaxFrameBytes) {
      OutLine& out = c->outbox.front();
      absl::StrAppend(&frame, out.text, "\r\n");
      if (out.record) records.push_back(*std::move(out.record));
      c->outbox.pop_front();
    }
    c->writing = true;
    co_await c->ws.async_write(asio::buffer(frame), ok);
    c->writing = false;
    if (ec) {
      Kill(c);
      break;
    }
    RecordWritten(std::move(records));
    c->last_write = absl::Now();
    if (c->close_after_flush && c->outbox.empty()) {
      boost::system::error_code ignored;
      co_await c->ws.async_close(websocket::close_code::normal,
                                 asio::redirect_error(asio::use_awaitable, ignored));
      Kill(c);
    }
  }
}

asio::awaitable<void> Simulator::Impl::Accept(tcp::acceptor& from, bool via_control_link) {
  while (true) {
    boost::system::error_code ec;
    tcp::socket socket(ioc);
    co_await from.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !from.is_open()) co_return;
    if (ec) continue;
    asio::co_spawn(ioc, Serve(std::move(socket), via_control_link), asio::detached);
  }
}

asio::awaitable<void> Simulator::Impl::Respond(beast::tcp_stream& stream, http::status status,
                                               std::string body) {
  http::response<http::string_body> res{status, 11};
  res.set(http::field::server, "iss-simulator");
  res.set(http::field::content_type, "text/plain");
  res.body() = std::move(body);
  res.prepare_payload();
  boost::system::error_code ec;
  co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

asio::awaitable<void> Simulator::Impl::Serve(tcp::socket socket, bool via_control_link) {
  boost::system::error_code ec;
  auto ok = asio::redirect_error(asio::use_awaitable, ec);
  std::string client_ip = "unknown";
  {
    auto ep = socket.remote_endpoint(ec);
    if (!ec) client_ip = ep.address().to_string();
  }
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  http::request<http::string_body> req;
  stream.expires_after(std::chrono::seconds(10));
  co_await http::async_read(stream, buffer, req, ok);
  if (ec) co_return;
  if (!websocket::is_upgrade(req)) {
    Count(&SimulatorStats::rejected);
    co_await Respond(stream, http::status::bad_request,
                     "TLCP over HTTP is not simulated: open a WebSocket\n");
    co_return;
  }
  if (!absl::StartsWith(absl::string_view(req.target().data(), req.target().size()),
                        "/lightstreamer")) {
    Count(&SimulatorStats::rejected);
    co_await Respond(stream, http::status::not_found, "unknown path\n");
    co_return;
  }
  const auto offered = req[http::field::sec_websocket_protocol];
  const std::string proto = ChooseSubprotocol(std::string_view(offered.data(), offered.size()));
  if (proto.empty()) {
    Count(&SimulatorStats::rejected);
    co_await Respond(stream, http::status::bad_request,
                     "expected subprotocol TLCP-2.x.0.lightstreamer.com\n");
    co_return;
  }
  stream.expires_never();
  auto c = std::make_shared<Conn>(websocket::stream<beast::tcp_stream>(std::move(stream)),
                                  ioc.get_executor());
  c->client_ip = client_ip;
  c->via_control_link = via_control_link;
  websocket::stream_base::timeout t{};
  t.handshake_timeout = std::chrono::seconds(10);
  t.idle_timeout = websocket::stream_base::none();
  t.keep_alive_pings = false;
  c->ws.set_option(t);
  c->ws.set_option(websocket::stream_base::decorator([proto](websocket::response_type& res) {
    res.set(http::field::sec_websocket_protocol, proto);
    res.set(http::field::server, "iss-simulator");
  }));
  c->ws.read_message_max(1 << 20);
  co_await c->ws.async_accept(req, ok);
  if (ec) co_return;
  c->ws.text(true);
  conns.push_back(c);
  Count(&SimulatorStats::connections);
  if (via_control_link) Count(&SimulatorStats::control_link_connections);
  asio::co_spawn(ioc, Writer(c), asio::detached);

  tlcp::LineSplitter splitter;
  std::vector<std::string> lines;
  std::string pending_request;  // a request name waiting for its parameter line
  while (!c->closed) {
    buffer.clear();
    co_await c->ws.async_read(buffer, ok);
    if (ec) break;
    lines.clear();
    splitter.Feed(beast::buffers_to_string(buffer.data()), &lines);
    // A WebSocket message holds whole requests: flush a last line without CR LF.
    if (splitter.pending() > 0) splitter.Feed("\r\n", &lines);
    for (size_t i = 0; i < lines.size(); ++i) {
      const std::string& line = lines[i];
      if (line == "wsok") {
        Send(c, "WSOK");
        continue;
      }
      // "name" then its parameter line; a request without parameters is
      // followed directly by the next request's name (no '=' in it).
      std::string body;
      if (i + 1 < lines.size() && lines[i + 1].find('=') != std::string::npos) body = lines[++i];
      HandleRequest(c, line, body);
    }
  }
  Detach(c);
  Kill(c);
  conns.remove(c);
}

asio::awaitable<void> Simulator::Impl::DrainAndClose(absl::Duration limit) {
  asio::steady_timer timer(ioc);
  const absl::Time deadline = absl::Now() + limit;
  // A simulated stall ends here: what it held back was recorded as sent.
  for (const auto& c : conns) {
    c->stalled_until = absl::InfinitePast();
    c->wake.cancel();
  }
  auto unsent = [this] {
    return std::any_of(conns.begin(), conns.end(), [](const std::shared_ptr<Conn>& c) {
      return !c->closed && (c->writing || !c->outbox.empty());
    });
  };
  while (unsent() && absl::Now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(2));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  boost::system::error_code ignored;
  acceptor.close(ignored);
  control_acceptor.close(ignored);
  for (const auto& c : conns) Kill(c);
  ioc.stop();
}

void Simulator::Impl::Count(uint64_t SimulatorStats::*field) {
  absl::MutexLock lock(&mu);
  ++(stats.*field);
}

absl::StatusOr<std::unique_ptr<Simulator>> Simulator::Start(Scenario scenario,
                                                            SimulatorOptions options) {
  if (options.speed <= 0) return absl::InvalidArgumentError("speed must be > 0");
  if (options.epoch == absl::InfinitePast()) options.epoch = absl::Now();
  const absl::StatusOr<tcp::endpoint> listen = iss::net::ListenEndpoint(options.address);
  if (!listen.ok()) return listen.status();

  auto impl = std::make_unique<Impl>(std::move(scenario), std::move(options));
  impl->faults = impl->scenario.faults;
  std::stable_sort(impl->faults.begin(), impl->faults.end(),
                   [](const Fault& a, const Fault& b) { return a.at < b.at; });
  const tcp::endpoint& ep = *listen;
  boost::system::error_code ec;
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", impl->options.address, ": ", ec.message()));
  }
  impl->port = impl->acceptor.local_endpoint().port();
  if (impl->options.control_link) {
    const tcp::endpoint cep(ep.address(), 0);
    impl->control_acceptor.open(cep.protocol(), ec);
    if (!ec) impl->control_acceptor.bind(cep, ec);
    if (!ec) impl->control_acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("control link listener: ", ec.message()));
    impl->control_port = impl->control_acceptor.local_endpoint().port();
  }
  impl->started = absl::Now();
  Impl* raw = impl.get();
  asio::co_spawn(raw->ioc, raw->Accept(raw->acceptor, false), asio::detached);
  if (raw->control_port != 0) {
    asio::co_spawn(raw->ioc, raw->Accept(raw->control_acceptor, true), asio::detached);
  }
  asio::co_spawn(raw->ioc, raw->Tick(), asio::detached);
  raw->thread = std::thread([raw] { raw->ioc.run(); });
  return std::unique_ptr<Simulator>(new Simulator(std::move(impl)));
}

Simulator::Simulator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Simulator::~Simulator() { Stop(); }

int Simulator::port() const { return impl_->port; }
int Simulator::control_link_port() const { return impl_->control_port; }

void Simulator::Stop() {
  if (!impl_->thread.joinable()) return;
  impl_->stopping = true;
  // Updates recorded as sent reach the clients before the sockets close: a
  // test counting what the feed sent must not count lines still queued here.
  asio::co_spawn(impl_->ioc, impl_->DrainAndClose(absl::Seconds(2)), asio::detached);
  impl_->thread.join();
  // What the io thread owned goes now, before the io_context (which then
  // destroys the suspended coroutines and their sockets).
  impl_->conns.clear();
  impl_->sessions.clear();
}

void Simulator::Inject(const Fault& fault) {
  asio::post(impl_->ioc, [impl = impl_.get(), fault] { impl->ApplyFault(fault); });
}

SimulatorStats Simulator::stats() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->stats;
}

std::vector<SentUpdate> Simulator::Sent() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->sent;
}

absl::Duration Simulator::scenario_time() const {
  // The model is advanced on the io thread; this is the same formula it uses.
  absl::Duration t = (absl::Now() - impl_->started) * impl_->options.speed;
  if (impl_->scenario.duration > absl::ZeroDuration()) t = std::min(t, impl_->scenario.duration);
  return t;
}

}  // namespace iss::sim
