// The parts of the TLCP client (client.h) and the state they share:
//   client.cc             the public API, option checks, and what the client
//                         reports (status, metrics, rate-limited logs)
//   client_connection.cc  the connect/serve/backoff loop over Beast WebSocket
//                         (plain or TLS) and the stall watchdog
// Internal to the client: nothing outside services/ingestion/tlcp includes it.
#pragma once

// clang-format off
#include <utility>  // before Asio (g++ 12 + Boost 1.74)
// clang-format on

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/asio_names.h"
#include "common/log.h"
#include "common/metrics.h"
#include "services/ingestion/tlcp/client.h"
#include "services/ingestion/tlcp/reconnect_policy.h"
#include "services/ingestion/tlcp/session.h"

namespace iss::tlcp {

using iss::ingest::v1::ConnectionState;

// The process-wide metrics of the Lightstreamer client (all clients share them).
struct ClientMetrics {
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

  static ClientMetrics& Get() {
    static ClientMetrics* m = new ClientMetrics();
    return *m;
  }
};

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

struct Client::Impl : public SessionEvents {
  Impl(ClientOptions opts, ingest::UpdateSink* s);

  static SessionOptions MakeSessionOptions(const ClientOptions& o);

  // --- SessionEvents: metrics and rate-limited logs ---
  void OnMessage(MessageType type) override;
  void OnMalformed(std::string_view reason, std::string_view line) override;
  void OnUnknown(std::string_view tag, std::string_view line) override;
  void OnNotice(std::string_view what, std::string_view detail) override;

  void OnSyncLag(absl::Duration lag) override;

  // `reason`: why the source is not streaming (kept until it streams again).
  void SetState(ConnectionState s, std::string reason = "",
                absl::Time next_attempt = absl::InfinitePast());

  // What an operator can do, in a sentence, about what keeps the feed away.
  std::string Hint(ConnectionState s, const std::string& reason) const;

  // Called after every frame read: the lists are copied only when the
  // session says they changed.
  void PublishSessionStatus();

  // CONOK named a control link: binds go there from now on. A link that
  // cannot be parsed is reported and ignored (binds stay where they were).
  void AdoptControlLink();

  // The stall window: what the server promised (its CONOK keep-alive, or what
  // we asked for before CONOK) plus our margin.
  absl::Duration StallWindow() const { return session.keepalive() + options.stall_margin; }

  // Starts the connection loop (Run) on `ioc` and the io thread that runs it.
  void StartLoop();

  // The coroutines of client_connection.cc. Declared only where Asio has
  // them: clang 14 (scripts/thread-safety-check.py) has no C++20 coroutines,
  // and without them in sight client.cc, which owns the guarded status, can
  // still be analysed there.
#if defined(BOOST_ASIO_HAS_CO_AWAIT)
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
#endif

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

}  // namespace iss::tlcp
