// The Beast side of the TLCP client: WebSocket (plain or TLS) transport, the
// connect/serve/backoff loop as a coroutine on the client's own io thread, and
// the stall watchdog. The protocol itself lives in Session (session.h).
#include <utility>  // before Asio (g++ 12 + Boost 1.74)

#include "services/ingestion/tlcp/client.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
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
#include "absl/synchronization/mutex.h"
#include "common/event_id.h"
#include "common/log.h"
#include "common/metrics.h"
#include "services/ingestion/tlcp/reconnect_policy.h"
#include "services/ingestion/tlcp/session.h"

namespace iss::tlcp {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using iss::ingest::v1::ConnectionState;

constexpr size_t kMaxFrameBytes = 8 << 20;

// The process-wide metrics of the Lightstreamer client (all clients share them).
struct Metrics {
  prometheus::Family<prometheus::Counter>& messages = metrics::CounterFamily(
      "iss_ingest_tlcp_messages_total", "TLCP notifications received, by type");
  prometheus::Family<prometheus::Counter>& malformed = metrics::CounterFamily(
      "iss_ingest_tlcp_malformed_total", "TLCP lines that could not be used, by reason");
  prometheus::Counter& unknown = metrics::Counter(
      "iss_ingest_tlcp_unknown_messages_total", "TLCP notifications with an unknown tag");
  prometheus::Family<prometheus::Counter>& notices = metrics::CounterFamily(
      "iss_ingest_tlcp_notices_total",
      "TLCP server notices: overflow, request_refused, session_ended, connection_refused, error");
  prometheus::Family<prometheus::Counter>& reconnects = metrics::CounterFamily(
      "iss_ingest_reconnects_total", "Lightstreamer reconnects, by cause");
  prometheus::Gauge& state = metrics::Gauge(
      "iss_ingest_session_state",
      "Lightstreamer connection state (iss.ingest.v1.ConnectionState number)");
  prometheus::Gauge& subscribed = metrics::Gauge(
      "iss_ingest_subscribed_items", "Items in subscriptions the server confirmed");
  prometheus::Gauge& last_message = metrics::Gauge(
      "iss_ingest_tlcp_last_message_timestamp_seconds",
      "Unix time of the last TLCP message received (age = time() - this)");
  prometheus::Counter& circuit_opened = metrics::Counter(
      "iss_ingest_circuit_open_total", "Times the reconnect circuit breaker opened");

  static Metrics& Get() {
    static Metrics* m = new Metrics();
    return *m;
  }
};

// Bounded label: the cause of a reconnect.
std::string CauseLabel(const std::string& reason) {
  for (const char* c : {"stall", "LOOP", "END", "CONERR", "ERROR", "connect", "handshake",
                        "closed", "malformed"}) {
    if (absl::StartsWith(reason, c)) return absl::AsciiStrToLower(c);
  }
  return "other";
}

}  // namespace

struct Client::Impl : public SessionEvents {
  Impl(ClientOptions opts, ingest::UpdateSink* s)
      : options(std::move(opts)),
        sink(s),
        session(MakeSessionOptions(options), sink, this),
        policy({options.backoff_initial, options.backoff_max, options.circuit_failures,
                options.circuit_open_for},
               static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()))) {
    status.server = absl::StrCat(options.host, ":", options.port);
  }

  static SessionOptions MakeSessionOptions(const ClientOptions& o) {
    SessionOptions s;
    s.adapter_set = o.adapter_set;
    s.data_adapter = o.data_adapter;
    s.cid = o.cid;
    s.keepalive = o.keepalive;
    s.max_keepalive = o.max_keepalive;
    s.items = o.items;
    s.fields = o.fields;
    s.items_per_request = o.items_per_request;
    return s;
  }

  // --- SessionEvents: metrics and rate-limited logs ---
  void OnMessage(MessageType type) override {
    Metrics::Get().messages.Add({{"type", std::string(MessageTypeName(type))}}).Increment();
  }
  void OnMalformed(std::string_view reason, std::string_view line) override {
    Metrics::Get().malformed.Add({{"reason", std::string(reason)}}).Increment();
    int64_t suppressed = 0;
    if (log_limiter.Allow(absl::StrCat("malformed:", std::string(reason)), &suppressed)) {
      log::Warn("malformed TLCP line", {{"reason", reason},
                                        {"line", line.substr(0, 200)},
                                        {"suppressed", suppressed}});
    }
  }
  void OnUnknown(std::string_view tag, std::string_view line) override {
    Metrics::Get().unknown.Increment();
    int64_t suppressed = 0;
    if (log_limiter.Allow("unknown", &suppressed)) {
      log::Warn("unknown TLCP message", {{"tag", tag.substr(0, 32)},
                                         {"line", line.substr(0, 200)},
                                         {"suppressed", suppressed}});
    }
  }
  void OnNotice(std::string_view what, std::string_view detail) override {
    Metrics::Get().notices.Add({{"kind", std::string(what)}}).Increment();
    int64_t suppressed = 0;
    if (log_limiter.Allow(absl::StrCat("notice:", std::string(what)), &suppressed)) {
      log::Warn("TLCP server notice", {{"kind", what},
                                       {"line", detail.substr(0, 200)},
                                       {"suppressed", suppressed}});
    }
  }

  void SetState(ConnectionState s) {
    {
      absl::MutexLock lock(&mu);
      status.state = s;
      if (s != iss::ingest::v1::CONNECTION_STATE_CONNECTED) status.subscribed_items = 0;
    }
    Metrics::Get().state.Set(static_cast<double>(s));
  }

  void PublishSessionStatus() {
    const uint32_t subscribed = session.subscribed_items();
    {
      absl::MutexLock lock(&mu);
      status.session_id = session.session_id();
      status.subscribed_items = subscribed;
      status.updates = session.updates_delivered();
      status.last_message_at = last_message_at;
    }
    Metrics::Get().subscribed.Set(subscribed);
  }

  // The stall window: what the server promised (its CONOK keep-alive, or what
  // we asked for before CONOK) plus our margin.
  absl::Duration StallWindow() const { return session.keepalive() + options.stall_margin; }

  asio::awaitable<void> Run();
  template <typename Ws>
  asio::awaitable<void> Serve(Ws& ws, std::string* reason);
  asio::awaitable<std::string> ConnectAndServe();
  asio::awaitable<void> Watchdog(std::shared_ptr<bool> done, std::function<void()> kill,
                                 std::shared_ptr<bool> stalled);

  ClientOptions options;
  ingest::UpdateSink* sink;
  Session session;
  ReconnectPolicy policy;
  log::RateLimiter log_limiter{absl::Seconds(10)};
  std::atomic<bool> stopping{false};
  absl::Time last_message_at = absl::InfinitePast();  // io thread only
  bool delivered_this_connection = false;             // io thread only

  mutable absl::Mutex mu;
  ClientStatus status ABSL_GUARDED_BY(mu);

  // Declared last: destroyed first, so coroutine frames it still holds go away
  // while everything they reference is alive.
  std::unique_ptr<ssl::context> ssl_ctx;
  std::unique_ptr<asio::io_context> ioc;
  std::thread thread;
  std::function<void()> close_current;  // io thread only: kills the live socket
};

asio::awaitable<void> Client::Impl::Watchdog(std::shared_ptr<bool> done,
                                             std::function<void()> kill,
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
asio::awaitable<void> Client::Impl::Serve(Ws& ws, std::string* reason) {
  boost::system::error_code ec;
  auto ok = asio::redirect_error(asio::use_awaitable, ec);
  ws.text(true);
  for (const std::string& req : session.Open()) {
    co_await ws.async_write(asio::buffer(req), ok);
    if (ec) {
      *reason = absl::StrCat("closed: write: ", ec.message());
      co_return;
    }
  }
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
    Metrics::Get().last_message.Set(absl::ToDoubleSeconds(last_message_at - absl::UnixEpoch()));
    lines.clear();
    splitter.Feed(beast::buffers_to_string(buffer.data()), &lines);
    for (const std::string& line : lines) {
      const bool was_established = session.established();
      Session::Step step = session.OnLine(line, last_message_at);
      // A blocking Deliver() is backpressure, not a stall.
      last_message_at = std::max(last_message_at, absl::Now());
      if (!was_established && session.established()) {
        SetState(iss::ingest::v1::CONNECTION_STATE_CONNECTED);
        log::Info("Lightstreamer session open",
                  {{"session_fingerprint", Fingerprint(session.session_id())},
                   {"server", absl::StrCat(options.host, ":", options.port)},
                   {"keepalive_s", session.keepalive()}});
      }
      for (const std::string& req : step.send) {
        co_await ws.async_write(asio::buffer(req), ok);
        if (ec) {
          *reason = absl::StrCat("closed: write: ", ec.message());
          co_return;
        }
      }
      if (step.kind == Session::Step::kStop) {
        stopping = true;
        *reason = "sink closed";
        co_return;
      }
      if (step.kind == Session::Step::kReconnect) {
        *reason = step.reason;
        boost::system::error_code ignored;
        co_await ws.async_close(websocket::close_code::normal,
                                asio::redirect_error(asio::use_awaitable, ignored));
        co_return;
      }
    }
    if (session.updates_delivered() > delivered_before) delivered_this_connection = true;
    PublishSessionStatus();
  }
}

asio::awaitable<std::string> Client::Impl::ConnectAndServe() {
  auto executor = co_await asio::this_coro::executor;
  boost::system::error_code ec;
  auto ok = asio::redirect_error(asio::use_awaitable, ec);
  tcp::resolver resolver(executor);
  auto endpoints = co_await resolver.async_resolve(options.host, std::to_string(options.port), ok);
  if (ec) co_return absl::StrCat("connect: resolve ", options.host, ": ", ec.message());

  const auto timeout = absl::ToChronoNanoseconds(options.connect_timeout);
  const std::string host_header =
      (options.port == (options.tls ? 443 : 80)) ? options.host
                                                 : absl::StrCat(options.host, ":", options.port);
  auto decorate = [this](websocket::request_type& req) {
    req.set(http::field::sec_websocket_protocol, options.subprotocol);
    req.set(http::field::user_agent, "iss-ingestion");
  };
  auto check_subprotocol = [this](const websocket::response_type& res) -> std::string {
    if (res[http::field::sec_websocket_protocol] != options.subprotocol) {
      return absl::StrCat("handshake: server did not accept subprotocol ", options.subprotocol);
    }
    return "";
  };

  std::string reason;
  auto done = std::make_shared<bool>(false);
  auto stalled = std::make_shared<bool>(false);
  last_message_at = absl::Now();  // the watchdog also bounds the handshake
  delivered_this_connection = false;

  if (!options.tls) {
    websocket::stream<beast::tcp_stream> ws(executor);
    beast::get_lowest_layer(ws).expires_after(timeout);
    co_await beast::get_lowest_layer(ws).async_connect(endpoints, ok);
    if (ec) co_return absl::StrCat("connect: ", ec.message());
    beast::get_lowest_layer(ws).expires_never();
    websocket::stream_base::timeout t = websocket::stream_base::timeout::suggested(beast::role_type::client);
    t.handshake_timeout = timeout;
    ws.set_option(t);
    ws.set_option(websocket::stream_base::decorator(decorate));
    ws.read_message_max(kMaxFrameBytes);
    websocket::response_type res;
    co_await ws.async_handshake(res, host_header, options.path, ok);
    if (ec) co_return absl::StrCat("handshake: ", ec.message());
    if (std::string bad = check_subprotocol(res); !bad.empty()) co_return bad;
    close_current = [&ws] {
      boost::system::error_code ignored;
      beast::get_lowest_layer(ws).socket().close(ignored);
    };
    asio::co_spawn(executor, Watchdog(done, close_current, stalled), asio::detached);
    co_await Serve(ws, &reason);
  } else {
    websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(executor, *ssl_ctx);
    if (!SSL_set_tlsext_host_name(ws.next_layer().native_handle(), options.host.c_str())) {
      co_return "connect: cannot set TLS SNI";
    }
    if (options.verify_tls_peer) {
      ws.next_layer().set_verify_mode(ssl::verify_peer);
      ws.next_layer().set_verify_callback(ssl::host_name_verification(options.host));
    }
    beast::get_lowest_layer(ws).expires_after(timeout);
    co_await beast::get_lowest_layer(ws).async_connect(endpoints, ok);
    if (ec) co_return absl::StrCat("connect: ", ec.message());
    co_await ws.next_layer().async_handshake(ssl::stream_base::client, ok);
    if (ec) co_return absl::StrCat("handshake: TLS: ", ec.message());
    beast::get_lowest_layer(ws).expires_never();
    websocket::stream_base::timeout t = websocket::stream_base::timeout::suggested(beast::role_type::client);
    t.handshake_timeout = timeout;
    ws.set_option(t);
    ws.set_option(websocket::stream_base::decorator(decorate));
    ws.read_message_max(kMaxFrameBytes);
    websocket::response_type res;
    co_await ws.async_handshake(res, host_header, options.path, ok);
    if (ec) co_return absl::StrCat("handshake: ", ec.message());
    if (std::string bad = check_subprotocol(res); !bad.empty()) co_return bad;
    close_current = [&ws] {
      boost::system::error_code ignored;
      beast::get_lowest_layer(ws).socket().close(ignored);
    };
    asio::co_spawn(executor, Watchdog(done, close_current, stalled), asio::detached);
    co_await Serve(ws, &reason);
  }
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
    std::string reason = co_await ConnectAndServe();
    // Only the server's own LOOP earns an immediate retry; a failed rebind
    // attempt (server gone) backs off like any other failure.
    const bool rebind = session.rebinding() && reason == "LOOP";
    session.OnDisconnected();
    PublishSessionStatus();
    if (stopping) break;
    const std::string cause = CauseLabel(reason);
    Metrics::Get().reconnects.Add({{"cause", cause}}).Increment();
    {
      absl::MutexLock lock(&mu);
      ++status.reconnects;
    }
    absl::Duration wait = absl::ZeroDuration();
    if (rebind) {
      // The server asked for it (LOOP): rebind at once, no failure.
      policy.OnSuccess();
      SetState(iss::ingest::v1::CONNECTION_STATE_CONNECTING);
    } else {
      if (delivered_this_connection) policy.OnSuccess();
      ReconnectPolicy::Decision d = policy.OnFailure();
      wait = d.wait;
      if (d.circuit_open) {
        Metrics::Get().circuit_opened.Increment();
        SetState(iss::ingest::v1::CONNECTION_STATE_CIRCUIT_OPEN);
      } else {
        SetState(cause == "stall" ? iss::ingest::v1::CONNECTION_STATE_STALLED
                                  : iss::ingest::v1::CONNECTION_STATE_DISCONNECTED);
      }
    }
    int64_t suppressed = 0;
    if (first || log_limiter.Allow(absl::StrCat("reconnect:", cause), &suppressed)) {
      log::Warn("Lightstreamer connection lost, reconnecting",
                {{"reason", reason}, {"cause", cause}, {"wait_s", wait},
                 {"rebind", rebind}, {"suppressed", suppressed}});
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

Client::Client(ClientOptions options, ingest::UpdateSink* sink)
    : impl_(std::make_unique<Impl>(std::move(options), sink)) {}

Client::~Client() { Stop(); }

absl::Status Client::Start() {
  const ClientOptions& o = impl_->options;
  if (o.host.empty()) return absl::InvalidArgumentError("Lightstreamer host is empty");
  if (o.port <= 0 || o.port > 65535) return absl::InvalidArgumentError("Lightstreamer port out of range");
  if (o.items.empty()) return absl::InvalidArgumentError("no items to subscribe");
  if (o.items_per_request < 1) return absl::InvalidArgumentError("items_per_request must be >= 1");
  if (o.keepalive <= absl::ZeroDuration() || o.max_keepalive <= absl::ZeroDuration() ||
      o.stall_margin < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "keepalive and max_keepalive must be > 0 and stall_margin >= 0");
  }
  for (const std::string& item : o.items) {
    if (item.empty() || item.find_first_of(" \t\r\n") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("bad item name \"", item, "\""));
    }
  }
  if (impl_->thread.joinable()) return absl::FailedPreconditionError("client already started");
  if (o.tls) {
    impl_->ssl_ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    boost::system::error_code ec;
    impl_->ssl_ctx->set_default_verify_paths(ec);
    if (ec) return absl::InternalError(absl::StrCat("TLS trust store: ", ec.message()));
    if (!o.tls_ca_file.empty()) {
      impl_->ssl_ctx->load_verify_file(o.tls_ca_file, ec);
      if (ec) {
        return absl::InvalidArgumentError(
            absl::StrCat("TLS CA file ", o.tls_ca_file, ": ", ec.message()));
      }
    }
  }
  impl_->ioc = std::make_unique<asio::io_context>(1);
  Impl* impl = impl_.get();
  asio::co_spawn(*impl->ioc, impl->Run(), asio::detached);
  impl->thread = std::thread([impl] { impl->ioc->run(); });
  return absl::OkStatus();
}

void Client::Stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->stopping = true;
  impl_->ioc->stop();
  impl_->thread.join();
  // Destroy pending coroutine frames (sockets close) before anything else.
  impl_->ioc.reset();
  impl_->SetState(iss::ingest::v1::CONNECTION_STATE_DISCONNECTED);
}

ClientStatus Client::Status() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->status;
}

}  // namespace iss::tlcp
