// The TLCP client's connection loop (client_impl.h): connect, handshake and
// serve one WebSocket (plain or TLS) at a time on the client's io thread,
// under the stall watchdog, then back off as the session and the reconnect
// policy say. The protocol itself lives in Session (session.h).
#include <utility>  // before Asio (g++ 12 + Boost 1.74)

#include <algorithm>
#include <type_traits>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/event_id.h"
#include "services/ingestion/tlcp/client_impl.h"

namespace iss::tlcp {
namespace {

constexpr size_t kMaxFrameBytes = 8 << 20;

// Bounded label: the cause of a reconnect.
std::string CauseLabel(const std::string& reason) {
  for (const char* c : {"stall", "LOOP", "END", "CONERR", "ERROR", "REQERR", "connect", "handshake",
                        "closed", "malformed"}) {
    if (absl::StartsWith(reason, c)) return absl::AsciiStrToLower(c);
  }
  return "other";
}

}  // namespace

void Client::Impl::StartLoop() {
  asio::co_spawn(*ioc, Run(), asio::detached);
  thread = std::thread([this] { ioc->run(); });
}

asio::awaitable<void> Client::Impl::Watchdog(std::shared_ptr<bool> done, std::function<void()> kill,
                                             std::shared_ptr<bool> stalled) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!*done) {
    // Check a few times per window so detection lands close to the deadline.
    const absl::Duration tick =
        std::clamp(StallWindow() / 10, absl::Milliseconds(5), absl::Milliseconds(500));
    timer.expires_after(absl::ToChronoNanoseconds(tick));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (*done) break;
    if (absl::Now() - last_message_at > StallWindow()) {
      *stalled = true;
      kill();
      break;
    }
  }
}

template <typename Ws>
asio::awaitable<bool> Client::Impl::Write(Ws& ws, const std::vector<std::string>& requests,
                                          std::string* reason) {
  boost::system::error_code ec;
  for (const std::string& req : requests) {
    co_await ws.async_write(asio::buffer(req), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      *reason = absl::StrCat("closed: write: ", ec.message());
      co_return false;
    }
  }
  co_return true;
}

template <typename Ws>
asio::awaitable<void> Client::Impl::Serve(Ws& ws, std::string* reason) {
  boost::system::error_code ec;
  auto ok = asio::redirect_error(asio::use_awaitable, ec);
  ws.text(true);
  if (!co_await Write(ws, session.Open(), reason)) co_return;
  SetState(iss::ingest::v1::CONNECTION_STATE_CONNECTING);
  const uint64_t delivered_before = session.updates_delivered();
  LineSplitter splitter;
  beast::flat_buffer buffer;
  std::vector<std::string> lines;
  while (!stopping) {
    buffer.clear();
    co_await ws.async_read(buffer, ok);
    if (ec) {
      *reason = absl::StrCat("closed: ", ec.message());
      co_return;
    }
    last_message_at = absl::Now();
    ClientMetrics::Get().last_message.Set(
        absl::ToDoubleSeconds(last_message_at - absl::UnixEpoch()));
    lines.clear();
    splitter.Feed(beast::buffers_to_string(buffer.data()), &lines);
    for (const std::string& line : lines) {
      const bool was_established = session.established();
      Session::Step step = session.OnLine(line, last_message_at);
      // A blocking Deliver() is backpressure, not a stall.
      last_message_at = std::max(last_message_at, absl::Now());
      if (!was_established && session.established()) {
        established_this_connection = true;
        AdoptControlLink();
        SetState(iss::ingest::v1::CONNECTION_STATE_CONNECTED);
        std::string where;
        {
          absl::MutexLock lock(&mu);
          where = status.server;
        }
        log::Info("Lightstreamer session open",
                  {{"session_fingerprint", Fingerprint(session.session_id())},
                   {"server", where},
                   {"control_link", session.control_link().empty() ? "*" : session.control_link()},
                   {"keepalive_s", session.keepalive()}});
      }
      // (Most lines send nothing: no coroutine frame for them.)
      if (!step.send.empty() && !co_await Write(ws, step.send, reason)) co_return;
      if (step.kind == Session::Step::kStop) {
        stopping = true;
        *reason = "sink closed";
        co_return;
      }
      if (step.kind == Session::Step::kReconnect) {
        *reason = step.reason;
        ended = std::move(step);
        boost::system::error_code ignored;
        co_await ws.async_close(websocket::close_code::normal,
                                asio::redirect_error(asio::use_awaitable, ignored));
        co_return;
      }
    }
    // Refused items whose time has come are asked for again.
    if (session.has_refused_items()) {
      Session::Step due = session.Tick(last_message_at);
      if (!due.send.empty() && !co_await Write(ws, due.send, reason)) co_return;
    }
    if (session.updates_delivered() > delivered_before) delivered_this_connection = true;
    PublishSessionStatus();
  }
}

asio::awaitable<std::string> Client::Impl::ConnectAndServe(const Target& target) {
  auto executor = co_await asio::this_coro::executor;
  boost::system::error_code ec;
  auto ok = asio::redirect_error(asio::use_awaitable, ec);
  {
    absl::MutexLock lock(&mu);
    status.server = target.HostPort();
  }
  tcp::resolver resolver(executor);
  auto endpoints = co_await resolver.async_resolve(target.host, std::to_string(target.port), ok);
  if (ec) co_return absl::StrCat("connect: resolve ", target.host, ": ", ec.message());

  last_message_at = absl::Now();  // the watchdog also bounds the handshake
  delivered_this_connection = false;
  established_this_connection = false;
  ended = Session::Step();

  if (!options.tls) {
    websocket::stream<beast::tcp_stream> ws(executor);
    co_return co_await HandshakeAndServe(ws, target, endpoints);
  }
  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(executor, *ssl_ctx);
  // A control link may be another host: SNI and the certificate check follow it.
  if (!SSL_set_tlsext_host_name(ws.next_layer().native_handle(), target.host.c_str())) {
    co_return "connect: cannot set TLS SNI";
  }
  if (options.verify_tls_peer) {
    ws.next_layer().set_verify_mode(ssl::verify_peer);
    ws.next_layer().set_verify_callback(ssl::host_name_verification(target.host));
  }
  co_return co_await HandshakeAndServe(ws, target, endpoints);
}

template <typename Ws, typename Endpoints>
asio::awaitable<std::string> Client::Impl::HandshakeAndServe(Ws& ws, const Target& target,
                                                             const Endpoints& endpoints) {
  auto executor = co_await asio::this_coro::executor;
  boost::system::error_code ec;
  auto ok = asio::redirect_error(asio::use_awaitable, ec);
  const auto timeout = absl::ToChronoNanoseconds(options.connect_timeout);
  beast::get_lowest_layer(ws).expires_after(timeout);
  co_await beast::get_lowest_layer(ws).async_connect(endpoints, ok);
  if (ec) co_return absl::StrCat("connect: ", ec.message());
  if constexpr (!std::is_same_v<Ws, websocket::stream<beast::tcp_stream>>) {
    co_await ws.next_layer().async_handshake(ssl::stream_base::client, ok);
    if (ec) co_return absl::StrCat("handshake: TLS: ", ec.message());
  }
  beast::get_lowest_layer(ws).expires_never();
  websocket::stream_base::timeout t =
      websocket::stream_base::timeout::suggested(beast::role_type::client);
  t.handshake_timeout = timeout;
  ws.set_option(t);
  ws.set_option(websocket::stream_base::decorator([this](websocket::request_type& req) {
    req.set(http::field::sec_websocket_protocol, options.subprotocol);
    req.set(http::field::user_agent, "iss-ingestion");
  }));
  ws.read_message_max(kMaxFrameBytes);
  websocket::response_type res;
  const std::string host_header = (target.port == (options.tls ? 443 : 80))
                                      ? target.host
                                      : absl::StrCat(target.host, ":", target.port);
  co_await ws.async_handshake(res, host_header, target.path, ok);
  if (ec) co_return absl::StrCat("handshake: ", ec.message());
  if (res[http::field::sec_websocket_protocol] != options.subprotocol) {
    co_return absl::StrCat("handshake: server did not accept subprotocol ", options.subprotocol);
  }

  std::string reason;
  auto done = std::make_shared<bool>(false);
  auto stalled = std::make_shared<bool>(false);
  close_current = [&ws] {
    boost::system::error_code ignored;
    beast::get_lowest_layer(ws).socket().close(ignored);
  };
  asio::co_spawn(executor, Watchdog(done, close_current, stalled), asio::detached);
  co_await Serve(ws, &reason);
  *done = true;
  close_current = nullptr;
  if (*stalled) reason = "stall: no data or PROBE within keep-alive + margin";
  co_return reason;
}

asio::awaitable<void> Client::Impl::Run() {
  asio::steady_timer backoff(co_await asio::this_coro::executor);
  bool first = true;
  while (!stopping) {
    SetState(iss::ingest::v1::CONNECTION_STATE_CONNECTING);
    // A session is created at the configured server; a rebind goes to the
    // control link the server named for it, if any.
    const Target& target = session.rebinding() && control ? *control : server;
    std::string reason = co_await ConnectAndServe(target);
    // Only the server's own LOOP earns an immediate retry; a failed rebind
    // attempt (server gone) backs off like any other failure.
    const bool rebind = session.rebinding() && reason == "LOOP";
    session.OnDisconnected();
    if (!session.rebinding()) control.reset();  // a new session starts from the server
    PublishSessionStatus();
    if (stopping) break;
    const std::string cause = CauseLabel(reason);
    ClientMetrics::Get().reconnects.Add({{"cause", cause}}).Increment();
    {
      absl::MutexLock lock(&mu);
      ++status.reconnects;
    }
    absl::Duration wait = absl::ZeroDuration();
    const bool from_server = ended.kind == Session::Step::kReconnect && reason == ended.reason;
    if (rebind) {
      // The server asked for it (LOOP): rebind at once, no failure.
      policy.OnSuccess();
      SetState(iss::ingest::v1::CONNECTION_STATE_CONNECTING);
    } else if (from_server && ended.retry == Retry::kRefused) {
      // Asking again soon will not change the answer: wait long, say so
      // once, and keep the circuit breaker for failures that may pass.
      wait = options.refused_backoff;
      ClientMetrics::Get().refusals.Increment();
      {
        absl::MutexLock lock(&mu);
        status.refusal_code = ended.code;
        status.refusal_message = ended.message;
      }
      SetState(iss::ingest::v1::CONNECTION_STATE_REFUSED, reason, absl::Now() + wait);
      if (reason != last_refusal) {
        log::Error("Lightstreamer server refused the session",
                   {{"code", ended.code},
                    {"message", ended.message},
                    {"server", server.HostPort()},
                    {"adapter_set", options.adapter_set},
                    {"subprotocol", options.subprotocol},
                    {"next_attempt_in_s", wait}});
        last_refusal = reason;
      }
    } else if (from_server && ended.retry == Retry::kNow && established_this_connection) {
      // "Reopen now" (END 48: maximum session duration, 40/41: the session
      // was taken over): a new session at once, after a short random pause
      // so many clients do not return in the same instant.
      policy.OnSuccess();
      wait = absl::Nanoseconds(
          static_cast<int64_t>(rng() % static_cast<uint64_t>(std::max<int64_t>(
                                           1, absl::ToInt64Nanoseconds(options.reopen_jitter)))));
      SetState(iss::ingest::v1::CONNECTION_STATE_CONNECTING, reason, absl::Now() + wait);
    } else {
      if (delivered_this_connection) policy.OnSuccess();
      ReconnectPolicy::Decision d = policy.OnFailure();
      wait = d.wait;
      const absl::Time next = absl::Now() + wait;
      if (d.circuit_open) {
        ClientMetrics::Get().circuit_opened.Increment();
        SetState(iss::ingest::v1::CONNECTION_STATE_CIRCUIT_OPEN, reason, next);
      } else if (cause == "connect" || cause == "handshake") {
        SetState(iss::ingest::v1::CONNECTION_STATE_UNREACHABLE, reason, next);
      } else {
        SetState(cause == "stall" ? iss::ingest::v1::CONNECTION_STATE_STALLED
                                  : iss::ingest::v1::CONNECTION_STATE_DISCONNECTED,
                 reason, next);
      }
    }
    if (!from_server || ended.retry != Retry::kRefused) last_refusal.clear();
    int64_t suppressed = 0;
    if (first || log_limiter.Allow(absl::StrCat("reconnect:", cause), &suppressed)) {
      log::Warn("Lightstreamer connection lost, reconnecting", {{"reason", reason},
                                                                {"cause", cause},
                                                                {"wait_s", wait},
                                                                {"rebind", rebind},
                                                                {"suppressed", suppressed}});
    }
    first = false;
    if (wait > absl::ZeroDuration()) {
      backoff.expires_after(absl::ToChronoNanoseconds(wait));
      boost::system::error_code ec;
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  SetState(iss::ingest::v1::CONNECTION_STATE_DISCONNECTED);
}

}  // namespace iss::tlcp
