// The Beast side of the TLCP client: WebSocket (plain or TLS) transport, the
// connect/serve/backoff loop as a coroutine on the client's own io thread, and
// the stall watchdog. The protocol itself lives in Session (session.h).
#include <utility>  // before Asio (g++ 12 + Boost 1.74)

#include "services/ingestion/tlcp/client.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <type_traits>

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
#include "common/grpc_util.h"
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
  prometheus::Counter& unknown = metrics::Counter("iss_ingest_tlcp_unknown_messages_total",
                                                  "TLCP notifications with an unknown tag");
  prometheus::Family<prometheus::Counter>& notices = metrics::CounterFamily(
      "iss_ingest_tlcp_notices_total",
      "TLCP server notices: overflow, request_refused, session_ended, connection_refused, error");
  prometheus::Family<prometheus::Counter>& reconnects =
      metrics::CounterFamily("iss_ingest_reconnects_total", "Lightstreamer reconnects, by cause");
  prometheus::Gauge& state =
      metrics::Gauge("iss_ingest_session_state",
                     "Lightstreamer connection state (iss.ingest.v1.ConnectionState number)");
  prometheus::Gauge& subscribed =
      metrics::Gauge("iss_ingest_subscribed_items", "Items in subscriptions the server confirmed");
  prometheus::Gauge& last_message =
      metrics::Gauge("iss_ingest_tlcp_last_message_timestamp_seconds",
                     "Unix time of the last TLCP message received (age = time() - this)");
  prometheus::Counter& circuit_opened = metrics::Counter(
      "iss_ingest_circuit_open_total", "Times the reconnect circuit breaker opened");
  prometheus::Gauge& refused_items =
      metrics::Gauge("iss_ingest_items_refused",
                     "Items whose subscription the Lightstreamer server refuses now (REQERR); see "
                     "GetIngestStatus.refused_items");
  prometheus::Gauge& sync_lag = metrics::Gauge(
      "iss_ingest_tlcp_sync_lag_seconds",
      "How far behind the server's clock the client reads the stream, from the last SYNC");
  prometheus::Counter& refusals =
      metrics::Counter("iss_ingest_session_refusals_total",
                       "Sessions the Lightstreamer server refused permanently (state REFUSED)");

  static Metrics& Get() {
    static Metrics* m = new Metrics();
    return *m;
  }
};

// Bounded label: the cause of a reconnect.
std::string CauseLabel(const std::string& reason) {
  for (const char* c : {"stall", "LOOP", "END", "CONERR", "ERROR", "REQERR", "connect", "handshake",
                        "closed", "malformed"}) {
    if (absl::StartsWith(reason, c)) return absl::AsciiStrToLower(c);
  }
  return "other";
}

// "TLCP-2.5.0.lightstreamer.com" -> "2.5.0".
std::string ProtocolVersion(std::string_view subprotocol) {
  if (subprotocol.substr(0, 5) == "TLCP-") subprotocol.remove_prefix(5);
  return std::string(subprotocol.substr(0, subprotocol.find(".lightstreamer.com")));
}

// Where to open a WebSocket: the configured server, or a control link.
struct Target {
  std::string host;
  int port = 0;
  std::string path;
  std::string HostPort() const {
    return host.find(':') != std::string::npos ? absl::StrCat("[", host, "]:", port)
                                               : absl::StrCat(host, ":", port);
  }
};

}  // namespace

struct Client::Impl : public SessionEvents {
  Impl(ClientOptions opts, ingest::UpdateSink* s)
      : options(std::move(opts)),
        sink(s),
        session(MakeSessionOptions(options), sink, this),
        policy({options.backoff_initial, options.backoff_max, options.circuit_failures,
                options.circuit_open_for},
               static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()))),
        server{options.host, options.port, options.path},
        rng(static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()))) {
    status.server = server.HostPort();
  }

  static SessionOptions MakeSessionOptions(const ClientOptions& o) {
    SessionOptions s;
    s.protocol_version = ProtocolVersion(o.subprotocol);
    s.requested_max_frequency = o.requested_max_frequency;
    s.refused_retry = o.refused_retry;
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
      log::Warn("malformed TLCP line",
                {{"reason", reason}, {"line", line.substr(0, 200)}, {"suppressed", suppressed}});
    }
  }
  void OnUnknown(std::string_view tag, std::string_view line) override {
    Metrics::Get().unknown.Increment();
    int64_t suppressed = 0;
    if (log_limiter.Allow("unknown", &suppressed)) {
      log::Warn(
          "unknown TLCP message",
          {{"tag", tag.substr(0, 32)}, {"line", line.substr(0, 200)}, {"suppressed", suppressed}});
    }
  }
  void OnNotice(std::string_view what, std::string_view detail) override {
    Metrics::Get().notices.Add({{"kind", std::string(what)}}).Increment();
    int64_t suppressed = 0;
    if (log_limiter.Allow(absl::StrCat("notice:", std::string(what)), &suppressed)) {
      log::Warn("TLCP server notice",
                {{"kind", what}, {"line", detail.substr(0, 200)}, {"suppressed", suppressed}});
    }
  }

  void OnSyncLag(absl::Duration lag) override {
    Metrics::Get().sync_lag.Set(absl::ToDoubleSeconds(lag));
  }

  // `reason`: why the source is not streaming (kept until it streams again).
  void SetState(ConnectionState s, std::string reason = "",
                absl::Time next_attempt = absl::InfinitePast()) {
    {
      absl::MutexLock lock(&mu);
      status.state = s;
      if (s != iss::ingest::v1::CONNECTION_STATE_CONNECTED) status.subscribed_items = 0;
      if (s == iss::ingest::v1::CONNECTION_STATE_CONNECTED) {
        status.reason.clear();
        status.refusal_code = 0;
        status.refusal_message.clear();
        status.hint.clear();
      } else if (!reason.empty()) {
        status.reason = std::move(reason);
        status.hint = Hint(s, status.reason);
      }
      status.next_attempt_at = next_attempt;
    }
    Metrics::Get().state.Set(static_cast<double>(s));
  }

  // What an operator can do, in a sentence, about what keeps the feed away.
  std::string Hint(ConnectionState s, const std::string& reason) const {
    if (s == iss::ingest::v1::CONNECTION_STATE_REFUSED) {
      return absl::StrCat(
          "The Lightstreamer server refuses the session: check ISS_LS_SERVER, "
          "ISS_LS_ADAPTER_SET (",
          options.adapter_set, ") and ISS_LS_SUBPROTOCOL (", options.subprotocol,
          "); see docs/runbook.md, \"When ISSLIVE refuses or changes\".");
    }
    if (absl::StartsWith(reason, "connect") || absl::StartsWith(reason, "handshake")) {
      return absl::StrCat("The ISSLIVE server ", server.HostPort(),
                          " cannot be reached from here: check network access (DNS, proxy, "
                          "firewall). Without internet access, run the platform on the bundled "
                          "simulator: ISS_PLATFORM_FEED=simulator scripts/platform.sh");
    }
    if (absl::StartsWith(reason, "stall")) {
      return "The stream went silent (no data, no PROBE): the client reconnects by itself.";
    }
    return "";
  }

  // Called after every frame read: the lists are copied only when the
  // session says they changed.
  void PublishSessionStatus() {
    const bool changed = session.status_version() != published_version;
    published_version = session.status_version();
    uint32_t subscribed = 0;
    std::vector<RefusedItem> refused;
    std::vector<FrequencyGrant> grants;
    if (changed) {
      subscribed = session.subscribed_items();
      refused = session.refused_items();
      grants = session.frequency_grants();
      Metrics::Get().refused_items.Set(static_cast<double>(refused.size()));
      Metrics::Get().subscribed.Set(subscribed);
    }
    absl::MutexLock lock(&mu);
    status.updates = session.updates_delivered();
    status.last_message_at = last_message_at;
    status.sync_lag = session.sync_lag();
    if (changed) {
      status.session_id = session.session_id();
      status.subscribed_items = subscribed;
      status.refused_items = std::move(refused);
      status.frequency_grants = std::move(grants);
      status.control_link = session.control_link();
    }
  }

  // CONOK named a control link: binds go there from now on. A link that
  // cannot be parsed is reported and ignored (binds stay where they were).
  void AdoptControlLink() {
    const std::string& link = session.control_link();
    if (link.empty()) {
      control.reset();
      return;
    }
    absl::StatusOr<ControlLink> parsed = ParseControlLink(link);
    if (!parsed.ok()) {
      OnNotice("bad_control_link", link);
      control.reset();
      return;
    }
    control = Target{parsed->host, parsed->port != 0 ? parsed->port : options.port,
                     absl::StrCat(parsed->path, options.path)};
  }

  // The stall window: what the server promised (its CONOK keep-alive, or what
  // we asked for before CONOK) plus our margin.
  absl::Duration StallWindow() const { return session.keepalive() + options.stall_margin; }

  asio::awaitable<void> Run();
  template <typename Ws>
  asio::awaitable<void> Serve(Ws& ws, std::string* reason);
  asio::awaitable<std::string> ConnectAndServe(const Target& target);
  // Connects `ws` (plain or TLS), completes its handshakes and serves it under
  // the stall watchdog; returns why it ended.
  template <typename Ws, typename Endpoints>
  asio::awaitable<std::string> HandshakeAndServe(Ws& ws, const Target& target,
                                                 const Endpoints& endpoints);
  template <typename Ws>
  asio::awaitable<bool> Write(Ws& ws, const std::vector<std::string>& requests,
                              std::string* reason);
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
  bool established_this_connection = false;           // io thread only
  Session::Step ended;                        // io thread only: the step that ended the connection
  const Target server;                        // the configured server: sessions are created there
  std::optional<Target> control;              // io thread only: CONOK's control link, for binds
  std::string last_refusal;                   // io thread only: logged once per distinct refusal
  std::mt19937_64 rng;                        // io thread only: reopen jitter
  uint64_t published_version = ~uint64_t{0};  // io thread only: session.status_version() copied

  mutable absl::Mutex mu;
  ClientStatus status ABSL_GUARDED_BY(mu);

  // Declared last: destroyed first, so coroutine frames it still holds go away
  // while everything they reference is alive.
  std::unique_ptr<ssl::context> ssl_ctx;
  std::unique_ptr<asio::io_context> ioc;
  std::thread thread;
  std::function<void()> close_current;  // io thread only: kills the live socket
};

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
    Metrics::Get().last_message.Set(absl::ToDoubleSeconds(last_message_at - absl::UnixEpoch()));
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
    Metrics::Get().reconnects.Add({{"cause", cause}}).Increment();
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
      Metrics::Get().refusals.Increment();
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
        Metrics::Get().circuit_opened.Increment();
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

void DescribeStatus(const ClientStatus& s, iss::ingest::v1::IngestStatus* out) {
  out->set_state_reason(s.reason);
  out->set_refusal_code(static_cast<int32_t>(s.refusal_code));
  out->set_refusal_message(s.refusal_message);
  if (s.next_attempt_at != absl::InfinitePast()) {
    ToProto(s.next_attempt_at, out->mutable_next_attempt_at());
  }
  out->set_hint(s.hint);
  out->set_control_link(s.control_link);
  for (const RefusedItem& r : s.refused_items) {
    iss::ingest::v1::RefusedItem* item = out->add_refused_items();
    item->set_item_id(r.item_id);
    item->set_code(static_cast<int32_t>(r.code));
    item->set_message(r.message);
    ToProto(r.since, item->mutable_since());
    ToProto(r.retry_at, item->mutable_retry_at());
  }
  for (const FrequencyGrant& g : s.frequency_grants) {
    iss::ingest::v1::FrequencyGrant* grant = out->add_frequency_grants();
    grant->set_max_frequency(g.max_frequency);
    grant->set_filtered(g.filtered);
    grant->set_items(g.items);
  }
}

Client::Client(ClientOptions options, ingest::UpdateSink* sink)
    : impl_(std::make_unique<Impl>(std::move(options), sink)) {}

Client::~Client() { Stop(); }

absl::Status Client::Start() {
  const ClientOptions& o = impl_->options;
  if (o.host.empty()) return absl::InvalidArgumentError("Lightstreamer host is empty");
  if (o.port <= 0 || o.port > 65535)
    return absl::InvalidArgumentError("Lightstreamer port out of range");
  if (o.items.empty()) return absl::InvalidArgumentError("no items to subscribe");
  if (o.items_per_request < 1) return absl::InvalidArgumentError("items_per_request must be >= 1");
  if (!absl::StartsWith(o.subprotocol, "TLCP-2.") ||
      !absl::EndsWith(o.subprotocol, ".lightstreamer.com")) {
    return absl::InvalidArgumentError(
        absl::StrCat("subprotocol \"", o.subprotocol, "\" is not TLCP-2.x.y.lightstreamer.com"));
  }
  if (absl::Status s = ValidateMaxFrequency(o.requested_max_frequency); !s.ok()) return s;
  if (o.refused_retry <= absl::ZeroDuration() || o.refused_backoff <= absl::ZeroDuration() ||
      o.reopen_jitter < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "refused_retry and refused_backoff must be > 0 and reopen_jitter >= 0");
  }
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
