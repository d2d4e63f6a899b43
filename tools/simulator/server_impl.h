// The parts of the ISSLIVE simulator's server (server.h) and the state they
// share, all of it owned by the server's io thread but for `mu`:
//   server.cc           start/stop, the listeners, the HTTP upgrade with
//                       subprotocol negotiation, one reader and one writer
//                       coroutine per connection
//   server_requests.cc  the TLCP requests: sessions (create, bind), control
//                       (subscribe, unsubscribe) and the updates they send
//   server_clock.cc     the model tick that broadcasts changes, SYNC and
//                       session upkeep, and the scenario's faults
// Internal to the simulator: nothing outside tools/simulator includes it.
#pragma once

// clang-format off
#include <utility>  // before Asio (g++ 12 + Boost 1.74)
// clang-format on

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/asio_names.h"
#include "tools/simulator/model.h"
#include "tools/simulator/server.h"

namespace iss::sim {

using tlcp::FieldValues;

// The message argument of CONERR/END/REQERR/ERROR: the server percent-encodes
// the characters that would break the line (the separator ',' among them).
std::string EncodeText(std::string_view text);

// What Lightstreamer Server says with each session code (TLCP Appendix A).
std::string SessionCodeText(int code);

struct Simulator::Impl {
  struct Subscription {
    int64_t id = 0;
    std::vector<int> items;         // model indexes
    std::vector<int> slots;         // schema field -> model slot (-1: always null)
    std::vector<FieldValues> last;  // what this client holds, per item
  };
  struct Conn;
  struct Session {
    std::string id;
    absl::Time created;
    absl::Time bound_at;    // SYNC counts from the last bind
    std::string client_ip;  // as last told in CLIENTIP
    absl::Duration keepalive = absl::Seconds(5);
    bool send_sync = true;
    absl::Time last_sync;
    std::map<int64_t, Subscription> subs;
    std::shared_ptr<Conn> conn;  // null while unbound
    absl::Time unbound_since = absl::InfiniteFuture();
  };
  // A line waiting to be written; an update carries its record, which joins
  // Sent() (and updates_sent) only once the line is written to the socket: a
  // line lost with a dropped connection was never sent.
  struct OutLine {
    std::string text;
    std::optional<SentUpdate> record;
  };
  struct Conn {
    explicit Conn(websocket::stream<beast::tcp_stream> s, asio::any_io_executor ex)
        : ws(std::move(s)), wake(ex) {}
    websocket::stream<beast::tcp_stream> ws;
    asio::steady_timer wake;
    std::deque<OutLine> outbox;
    std::string client_ip;
    bool via_control_link = false;  // accepted on the control link's listener
    Session* session = nullptr;
    bool closed = false;
    bool close_after_flush = false;
    bool writing = false;  // a frame taken from the outbox is being written
    absl::Time stalled_until = absl::InfinitePast();
    absl::Time last_write = absl::Now();
  };

  Impl(Scenario sc, SimulatorOptions opts);

  static std::vector<std::string> Items(const SimulatorOptions& o);

  // --- outgoing -------------------------------------------------------------
  void Send(const std::shared_ptr<Conn>& c, std::string line,
            std::optional<SentUpdate> record = std::nullopt);
  // Lines of `records` reached the socket: they count as sent.
  void RecordWritten(std::vector<SentUpdate> records);
  void Kill(const std::shared_ptr<Conn>& c);

  asio::awaitable<void> Writer(std::shared_ptr<Conn> c);

  // --- sessions and subscriptions ------------------------------------------
  FieldValues Project(const Subscription& sub, size_t item_pos) const;

  void SendUpdate(Session& s, Subscription& sub, size_t pos, FieldValues values, bool snapshot);

  // A session id is a bearer secret (bind_session with it gets the session's
  // stream): 128 unpredictable bits, not the scenario's seeded randomness.
  static std::string NewSessionId();

  // TLCP (WS Transport): "As long as a session is bound to a WS, no other
  // session can be bound"; Appendix A code 69: "Streaming request on a
  // WebSocket not allowed, as a streaming is already in place".
  static constexpr char kAlreadyStreaming[] =
      "CONERR,69,A session is already streaming on this connection";

  // A refusal configured or injected (fault "conerr"): true when sent.
  bool RefusedByConfiguration(const std::shared_ptr<Conn>& c);

  void HandleCreate(const std::shared_ptr<Conn>& c, const std::map<std::string, std::string>& p);

  void HandleBind(const std::shared_ptr<Conn>& c, const std::map<std::string, std::string>& p);

  void Configure(Session& s, const std::map<std::string, std::string>& p);

  // CONOK, then (TLCP "Session Creation/Binding Response") SERVNAME and
  // CLIENTIP, which a bind repeats only when they changed, and CONS.
  void Attach(const std::shared_ptr<Conn>& c, Session* s, bool created);

  // CONF's arguments for LS_requested_max_frequency, capped by
  // options.max_frequency. The simulator never sends diffs, whatever the
  // client's LS_supported_diffs says.
  std::string Grant(const std::string& asked) const;

  // CONOK's 4th argument: the control link's host:port, or "*".
  std::string ControlLinkArg() const;

  void Detach(const std::shared_ptr<Conn>& c);

  void Refuse(const std::shared_ptr<Conn>& c, std::string line);

  void HandleControl(const std::shared_ptr<Conn>& c, const std::map<std::string, std::string>& p);

  void HandleRequest(const std::shared_ptr<Conn>& c, const std::string& name,
                     const std::string& body);

  // --- connections ----------------------------------------------------------
  asio::awaitable<void> Accept(tcp::acceptor& from, bool via_control_link);

  asio::awaitable<void> Respond(beast::tcp_stream& stream, http::status status, std::string body);

  asio::awaitable<void> Serve(tcp::socket socket, bool via_control_link);

  // Stop(): no update is made any more (Tick sees `stopping`); what was
  // already made, and recorded as sent, is written out first (at most
  // `limit`), then the listener and every socket close, so clients see the
  // server go (EOF, then connection refused), and the loop stops.
  asio::awaitable<void> DrainAndClose(absl::Duration limit);

  // --- the clock ------------------------------------------------------------
  asio::awaitable<void> Tick();

  void Broadcast(const std::vector<TelemetryModel::Change>& changes);

  void Housekeeping(absl::Time now);

  void ApplyFault(const Fault& f);

  void EndSession(const std::shared_ptr<Conn>& c, std::string line);

  void Count(uint64_t SimulatorStats::*field);

  Scenario scenario;
  SimulatorOptions options;
  TelemetryModel model;
  std::vector<Fault> faults;  // sorted by time
  size_t next_fault = 0;
  absl::Time started;
  std::map<std::string, std::unique_ptr<Session>> sessions;
  int refuse_code = 0;  // CONERR for create/bind requests, 0 = none
  int refuse_left = 0;  // how many more (0 = no limit)
  int control_port = 0;
  std::list<std::shared_ptr<Conn>> conns;
  std::atomic<bool> stopping{false};
  int port = 0;

  mutable absl::Mutex mu;
  SimulatorStats stats ABSL_GUARDED_BY(mu);
  std::vector<SentUpdate> sent ABSL_GUARDED_BY(mu);

  asio::io_context ioc{1};
  tcp::acceptor acceptor;
  tcp::acceptor control_acceptor;
  std::thread thread;
};

}  // namespace iss::sim
