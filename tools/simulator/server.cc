// The simulator's Beast side: listener, HTTP upgrade with subprotocol
// negotiation, one reader and one writer coroutine per connection, the model
// tick that broadcasts changes, and the TLCP request handling.
// clang-format off
#include <utility>  // before Asio (g++ 12 + Boost 1.74)
// clang-format on

#include "tools/simulator/server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <list>
#include <map>
#include <random>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/catalog.h"
#include "common/endpoint.h"
#include "common/log.h"
#include "common/net.h"
#include "common/percent.h"
#include "tools/simulator/model.h"

namespace iss::sim {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using tlcp::FieldValues;

constexpr int64_t kRequestLimit = 50000;
constexpr size_t kMaxOutbox = 200000;
constexpr size_t kMaxFrameBytes = 256 << 10;  // lines queued for a stalled client before we drop it

// The field slot of a schema name (kIssliveFields order), or -1.
int FieldSlot(std::string_view name) {
  for (int i = 0; i < static_cast<int>(std::size(iss::kIssliveFields)); ++i) {
    if (name == iss::kIssliveFields[i]) return i;
  }
  return -1;
}

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

std::string Param(const std::map<std::string, std::string>& params, const std::string& key,
                  const std::string& def = "") {
  auto it = params.find(key);
  return it == params.end() ? def : it->second;
}

// The message argument of CONERR/END/REQERR/ERROR: the server percent-encodes
// the characters that would break the line (the separator ',' among them).
std::string EncodeText(std::string_view text) {
  return percent::Encode(
      text, [](unsigned char c) { return c != '%' && c != ',' && c != '\r' && c != '\n'; });
}

// What Lightstreamer Server says with each session code (TLCP Appendix A).
std::string SessionCodeText(int code) {
  switch (code) {
    case 2:
      return "Requested Adapter Set not available";
    case 5:
      return "Server temporarily overloaded, retry later";
    case 32:
      return "Session closed on the server side";
    case 48:
      return "Maximum session duration reached, open a new session";
    case 60:
      return "Client version not supported";
    default:
      return "Simulated refusal";
  }
}

}  // namespace

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

  Impl(Scenario sc, SimulatorOptions opts)
      : scenario(std::move(sc)),
        options(std::move(opts)),
        model(scenario, Items(options), options.epoch),
        acceptor(ioc),
        control_acceptor(ioc) {
    refuse_code = options.refuse_sessions_code;
    if (options.rate >= 0) model.SetRate(options.rate);
  }

  static std::vector<std::string> Items(const SimulatorOptions& o) {
    if (!o.items.empty()) return o.items;
    std::vector<std::string> items;
    for (const CatalogItem& c : Catalog::Embedded().items()) items.push_back(c.item_id);
    if (std::find(items.begin(), items.end(), kTimeItem) == items.end()) {
      items.emplace_back(kTimeItem);
    }
    return items;
  }

  // --- outgoing -------------------------------------------------------------
  void Send(const std::shared_ptr<Conn>& c, std::string line,
            std::optional<SentUpdate> record = std::nullopt) {
    if (c->closed) return;
    if (c->outbox.size() >= kMaxOutbox) {
      // A client that stopped reading: let it go rather than grow without bound.
      Kill(c);
      return;
    }
    c->outbox.push_back({std::move(line), std::move(record)});
    c->wake.cancel();
  }
  // Lines of `records` reached the socket: they count as sent.
  void RecordWritten(std::vector<SentUpdate> records) {
    if (records.empty()) return;
    {
      absl::MutexLock lock(&mu);
      stats.updates_sent += records.size();
      if (options.record) {
        for (SentUpdate& r : records) sent.push_back(std::move(r));
      }
    }
  }
  void Kill(const std::shared_ptr<Conn>& c) {
    boost::system::error_code ignored;
    beast::get_lowest_layer(c->ws).socket().close(ignored);
    c->closed = true;
    c->wake.cancel();
  }

  asio::awaitable<void> Writer(std::shared_ptr<Conn> c) {
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

  // --- sessions and subscriptions ------------------------------------------
  FieldValues Project(const Subscription& sub, size_t item_pos) const {
    const FieldValues& all = model.Current(static_cast<size_t>(sub.items[item_pos]));
    FieldValues out(sub.slots.size());
    for (size_t f = 0; f < sub.slots.size(); ++f) {
      if (sub.slots[f] >= 0) out[f] = all[static_cast<size_t>(sub.slots[f])];
    }
    return out;
  }

  void SendUpdate(Session& s, Subscription& sub, size_t pos, FieldValues values, bool snapshot) {
    const bool first = sub.last[pos].empty();
    std::string line = absl::StrCat("U,", sub.id, ",", pos + 1, ",",
                                    tlcp::EncodeUpdate(first ? nullptr : &sub.last[pos], values));
    SentUpdate record{s.id, model.items()[static_cast<size_t>(sub.items[pos])], values, snapshot};
    sub.last[pos] = std::move(values);
    Send(s.conn, std::move(line), std::move(record));
  }

  // A session id is a bearer secret (bind_session with it gets the session's
  // stream): 128 unpredictable bits, not the scenario's seeded randomness.
  static std::string NewSessionId() {
    std::random_device rd;
    return absl::StrFormat("S%08x%08x%08x%08x", rd(), rd(), rd(), rd());
  }

  // TLCP (WS Transport): "As long as a session is bound to a WS, no other
  // session can be bound"; Appendix A code 69: "Streaming request on a
  // WebSocket not allowed, as a streaming is already in place".
  static constexpr char kAlreadyStreaming[] =
      "CONERR,69,A session is already streaming on this connection";

  // A refusal configured or injected (fault "conerr"): true when sent.
  bool RefusedByConfiguration(const std::shared_ptr<Conn>& c) {
    if (refuse_code == 0) return false;
    Refuse(c, absl::StrCat("CONERR,", refuse_code, ",", EncodeText(SessionCodeText(refuse_code))));
    if (refuse_left > 0 && --refuse_left == 0) refuse_code = options.refuse_sessions_code;
    return true;
  }

  void HandleCreate(const std::shared_ptr<Conn>& c, const std::map<std::string, std::string>& p) {
    if (c->session != nullptr) {
      Refuse(c, kAlreadyStreaming);
      return;
    }
    if (RefusedByConfiguration(c)) return;
    if (Param(p, "LS_adapter_set", "DEFAULT") != options.adapter_set) {
      Refuse(c, absl::StrCat("CONERR,2,", EncodeText(SessionCodeText(2))));
      return;
    }
    if (Param(p, "LS_polling") == "true") {
      // 65: "invalid argument values" (the real server polls; we do not).
      Refuse(c, "CONERR,65,Polling is not simulated");
      return;
    }
    auto s = std::make_unique<Session>();
    s->id = NewSessionId();
    s->created = absl::Now();
    Configure(*s, p);
    Session* raw = s.get();
    sessions[s->id] = std::move(s);
    Count(&SimulatorStats::sessions_created);
    Attach(c, raw, /*created=*/true);
  }

  void HandleBind(const std::shared_ptr<Conn>& c, const std::map<std::string, std::string>& p) {
    if (c->session != nullptr) {
      Refuse(c, kAlreadyStreaming);
      return;
    }
    auto it = sessions.find(Param(p, "LS_session"));
    Session* s = it == sessions.end() ? nullptr : it->second.get();
    // Only an unbound session may be bound (after LOOP, or once its connection
    // dropped): TLCP 2.x, Session Life Cycle, "a session may never be bound to
    // more than one stream connection". Lightstreamer Server keeps that rule by
    // moving the session to the new connection and ending the old stream with
    // END,40 ("A manual rebind to this session has been performed by some
    // client", Appendix A), so whoever learns the id (a bearer secret) can take
    // the feed over, again and again; the official clients do not even retry
    // after END,40 (Lightstreamer-lib-client-haxe,
    // src/common/com/lightstreamer/client/internal/ClientMachine.hx, evtEND:
    // only 41 and 48 retry). The simulator refuses the newcomer instead and the
    // streaming connection carries on. The refusal is CONERR,20 ("Specified
    // session not found on a bind_session request"), the answer to an unknown
    // id, so a prober learns nothing about which ids are live; clients answer
    // 20 by creating a new session (same file, evtCONERR: 4, 6, 20, 40, 41, 48
    // retry; ours: tlcp/session.cc), so a client whose connection died
    // without the server noticing yet simply starts over.
    if (RefusedByConfiguration(c)) return;
    if (s == nullptr || (s->conn && !s->conn->closed)) {
      if (s != nullptr) {
        log::Warn("bind_session refused: the session is streaming on another connection",
                  {{"client_ip", c->client_ip}});
      }
      Refuse(c, "CONERR,20,Session not found");
      return;
    }
    // A connection that is gone but not yet detached lets go of the session.
    if (s->conn) s->conn->session = nullptr;
    Configure(*s, p);
    Count(&SimulatorStats::sessions_bound);
    if (c->via_control_link) Count(&SimulatorStats::control_link_binds);
    Attach(c, s, /*created=*/false);
  }

  void Configure(Session& s, const std::map<std::string, std::string>& p) {
    int64_t ms = 5000;
    if (absl::SimpleAtoi(Param(p, "LS_keepalive_millis", "5000"), &ms)) {
      s.keepalive = absl::Milliseconds(std::clamp<int64_t>(ms, 50, 120000));
    }
    s.send_sync = Param(p, "LS_send_sync", "true") != "false";
  }

  // CONOK, then (TLCP "Session Creation/Binding Response") SERVNAME and
  // CLIENTIP, which a bind repeats only when they changed, and CONS.
  void Attach(const std::shared_ptr<Conn>& c, Session* s, bool created) {
    s->conn = c;
    s->unbound_since = absl::InfiniteFuture();
    s->bound_at = absl::Now();
    s->last_sync = s->bound_at;
    c->session = s;
    Send(c, absl::StrCat("CONOK,", s->id, ",", kRequestLimit, ",",
                         absl::ToInt64Milliseconds(s->keepalive), ",", ControlLinkArg()));
    if (created) Send(c, "SERVNAME,ISSLIVE Simulator");
    if (created || s->client_ip != c->client_ip) {
      s->client_ip = c->client_ip;
      Send(c, absl::StrCat("CLIENTIP,", c->client_ip));
    }
    Send(c, "CONS,unlimited");
    if (created) Send(c, "NOOP,sending placeholder data");
  }

  // CONF's arguments for LS_requested_max_frequency, capped by
  // options.max_frequency. The simulator never sends diffs, whatever the
  // client's LS_supported_diffs says.
  std::string Grant(const std::string& asked) const {
    double cap = 0, want = 0;
    const bool capped =
        !options.max_frequency.empty() && absl::SimpleAtod(options.max_frequency, &cap);
    if (asked == "unfiltered" && !capped) return "unlimited,unfiltered";
    if (!absl::SimpleAtod(asked, &want) || (capped && cap < want)) {
      return absl::StrCat(capped ? options.max_frequency : "unlimited", ",filtered");
    }
    return absl::StrCat(asked, ",filtered");
  }

  // CONOK's 4th argument: the control link's host:port, or "*".
  std::string ControlLinkArg() const {
    if (control_port == 0) return "*";
    // Start() validated the address. A wildcard listener is reached on loopback.
    iss::net::HostPort link = *iss::net::ParseHostPort(options.address);
    if (link.host == "0.0.0.0") link.host = "127.0.0.1";
    if (link.host == "::") link.host = "::1";
    link.port = static_cast<uint16_t>(control_port);
    return link.ToString();
  }

  void Detach(const std::shared_ptr<Conn>& c) {
    if (c->session != nullptr && c->session->conn == c) {
      c->session->conn = nullptr;
      c->session->unbound_since = absl::Now();
    }
    c->session = nullptr;
  }

  void Refuse(const std::shared_ptr<Conn>& c, std::string line) {
    Count(&SimulatorStats::rejected);
    Send(c, std::move(line));
    c->close_after_flush = true;
  }

  void HandleControl(const std::shared_ptr<Conn>& c, const std::map<std::string, std::string>& p) {
    Count(&SimulatorStats::control_requests);
    const std::string req = Param(p, "LS_reqId");
    int64_t req_id = 0;
    if (!absl::SimpleAtoi(req, &req_id)) {
      // No request id to answer to: ERROR, 67 "malformed request".
      Count(&SimulatorStats::rejected);
      Send(c, "ERROR,67,Missing or bad LS_reqId");
      return;
    }
    auto reqerr = [&](int code, const std::string& msg) {
      Count(&SimulatorStats::rejected);
      Send(c, absl::StrCat("REQERR,", req_id, ",", code, ",", msg));
    };
    Session* s = c->session;
    if (s == nullptr) return reqerr(20, "Session not found");
    int64_t sub_id = 0;
    // 65: "syntax error or invalid argument values" (TLCP Appendix B).
    if (!absl::SimpleAtoi(Param(p, "LS_subId"), &sub_id)) return reqerr(65, "Bad LS_subId");
    const std::string op = Param(p, "LS_op");
    if (op == "delete") {
      if (s->subs.erase(sub_id) == 0) return reqerr(19, "Subscription not found");
      Send(c, absl::StrCat("REQOK,", req_id));
      Send(c, absl::StrCat("UNSUB,", sub_id));
      return;
    }
    if (op != "add") return reqerr(65, "Unsupported LS_op");
    const std::string mode = Param(p, "LS_mode");
    if (mode != "MERGE" && mode != "RAW" && mode != "DISTINCT") {
      return reqerr(24, "Bad subscription mode for these items");
    }
    if (s->subs.count(sub_id)) return reqerr(65, "LS_subId already in use");
    Subscription sub;
    sub.id = sub_id;
    for (absl::string_view name : absl::StrSplit(Param(p, "LS_group"), ' ', absl::SkipEmpty())) {
      const std::string item(name);
      if (auto r = options.refused_items.find(item); r != options.refused_items.end()) {
        // The whole request is refused: the server does not say which item.
        return reqerr(r->second, EncodeText("Item not served, refused by the Metadata Adapter"));
      }
      const int idx = model.Find(item);
      if (idx < 0) return reqerr(21, "Bad Group name");
      sub.items.push_back(idx);
    }
    for (absl::string_view name : absl::StrSplit(Param(p, "LS_schema"), ' ', absl::SkipEmpty())) {
      sub.slots.push_back(FieldSlot(std::string_view(name.data(), name.size())));
    }
    if (sub.items.empty()) return reqerr(21, "Bad Group name");
    if (sub.slots.empty()) return reqerr(23, "Bad Schema name");
    sub.last.assign(sub.items.size(), FieldValues());
    const bool snapshot = Param(p, "LS_snapshot", "false") != "false";
    // LS_ack=false (TLCP 2.3+ on WebSockets): the client does not want REQOK.
    if (Param(p, "LS_ack", "true") != "false") Send(c, absl::StrCat("REQOK,", req_id));
    Send(c, absl::StrCat("SUBOK,", sub_id, ",", sub.items.size(), ",", sub.slots.size()));
    Send(c, absl::StrCat("CONF,", sub_id, ",",
                         Grant(Param(p, "LS_requested_max_frequency", "unlimited"))));
    Subscription& stored = s->subs.emplace(sub_id, std::move(sub)).first->second;
    // RAW has no snapshot. In MERGE the snapshot is the item's first update
    // and the server sends no EOS; DISTINCT gets EOS after it.
    if (snapshot && mode != "RAW") {
      for (size_t i = 0; i < stored.items.size(); ++i) {
        SendUpdate(*s, stored, i, Project(stored, i), /*snapshot=*/true);
        if (mode == "DISTINCT") Send(c, absl::StrCat("EOS,", sub_id, ",", i + 1));
      }
    }
  }

  void HandleRequest(const std::shared_ptr<Conn>& c, const std::string& name,
                     const std::string& body) {
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>> parsed =
        tlcp::ParseParams(body);
    if (!parsed.ok()) {
      Count(&SimulatorStats::rejected);
      Send(c, "ERROR,67,Malformed request parameters");
      return;
    }
    const std::map<std::string, std::string> p(parsed->begin(), parsed->end());
    if (name == "create_session") {
      HandleCreate(c, p);
    } else if (name == "bind_session") {
      HandleBind(c, p);
    } else if (name == "control") {
      HandleControl(c, p);
    } else if (name == "heartbeat") {
      // Client keep-alive: nothing to answer on a WebSocket.
    } else {
      Count(&SimulatorStats::rejected);
      Send(c, absl::StrCat("ERROR,67,Unsupported request ", EncodeText(name.substr(0, 32))));
    }
  }

  // --- connections ----------------------------------------------------------
  asio::awaitable<void> Accept(tcp::acceptor& from, bool via_control_link) {
    while (true) {
      boost::system::error_code ec;
      tcp::socket socket(ioc);
      co_await from.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !from.is_open()) co_return;
      if (ec) continue;
      asio::co_spawn(ioc, Serve(std::move(socket), via_control_link), asio::detached);
    }
  }

  asio::awaitable<void> Respond(beast::tcp_stream& stream, http::status status, std::string body) {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::server, "iss-simulator");
    res.set(http::field::content_type, "text/plain");
    res.body() = std::move(body);
    res.prepare_payload();
    boost::system::error_code ec;
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  }

  asio::awaitable<void> Serve(tcp::socket socket, bool via_control_link) {
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

  // Stop(): no update is made any more (Tick sees `stopping`); what was
  // already made, and recorded as sent, is written out first (at most
  // `limit`), then the listener and every socket close, so clients see the
  // server go (EOF, then connection refused), and the loop stops.
  asio::awaitable<void> DrainAndClose(absl::Duration limit) {
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

  // --- the clock ------------------------------------------------------------
  asio::awaitable<void> Tick() {
    asio::steady_timer timer(ioc);
    std::vector<TelemetryModel::Change> changes;
    while (!stopping) {
      timer.expires_after(absl::ToChronoNanoseconds(options.tick));
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (stopping) break;
      const absl::Time now = absl::Now();
      absl::Duration t = (now - started) * options.speed;
      if (scenario.duration > absl::ZeroDuration()) t = std::min(t, scenario.duration);
      changes.clear();
      // Budget: a few ticks' worth of the nominal rate, so a server that fell
      // behind (slow machine, huge rate) skips background updates instead of
      // building an ever larger backlog.
      const double per_tick = std::max(options.rate, scenario.updates_per_second) *
                              absl::ToDoubleSeconds(options.tick) * options.speed;
      model.AdvanceTo(t, &changes, static_cast<size_t>(4 * per_tick) + 1000);
      Broadcast(changes);
      while (next_fault < faults.size() && faults[next_fault].at <= t) {
        ApplyFault(faults[next_fault++]);
      }
      Housekeeping(now);
    }
  }

  void Broadcast(const std::vector<TelemetryModel::Change>& changes) {
    if (changes.empty()) return;
    for (auto& [id, s] : sessions) {
      if (!s->conn) continue;
      for (auto& [sub_id, sub] : s->subs) {
        for (const TelemetryModel::Change& ch : changes) {
          for (size_t pos = 0; pos < sub.items.size(); ++pos) {
            if (sub.items[pos] != static_cast<int>(ch.item)) continue;
            FieldValues v(sub.slots.size());
            for (size_t f = 0; f < sub.slots.size(); ++f) {
              if (sub.slots[f] >= 0) v[f] = ch.values[static_cast<size_t>(sub.slots[f])];
            }
            SendUpdate(*s, sub, pos, std::move(v), false);
          }
        }
      }
    }
  }

  void Housekeeping(absl::Time now) {
    int subscribed = 0;
    for (auto it = sessions.begin(); it != sessions.end();) {
      Session& s = *it->second;
      if (!s.conn && now - s.unbound_since > options.session_linger) {
        it = sessions.erase(it);
        continue;
      }
      if (s.conn && s.send_sync && now - s.last_sync >= options.sync_period) {
        s.last_sync = now;
        // Seconds since the session was bound to this connection (TLCP "Time
        // Synchronization"): restarts at every bind.
        Send(s.conn, absl::StrCat("SYNC,", absl::ToInt64Seconds(now - s.bound_at)));
        Count(&SimulatorStats::syncs_sent);
      }
      if (s.conn) {
        for (const auto& [id, sub] : s.subs) subscribed += static_cast<int>(sub.items.size());
      }
      ++it;
    }
    absl::MutexLock lock(&mu);
    stats.updates_skipped = model.skipped();
    stats.live_connections = static_cast<int>(conns.size());
    stats.live_sessions = static_cast<int>(sessions.size());
    stats.subscribed_items = subscribed;
  }

  void ApplyFault(const Fault& f) {
    Count(&SimulatorStats::faults);
    if (f.kind == FaultKind::kConerr) {
      refuse_code = f.code != 0 ? f.code : 5;
      refuse_left = f.count;  // 0: every request from now on
    }
    log::Info("simulator fault", {{"kind", FaultName(f.kind)}, {"connections", conns.size()}});
    // Copy: Kill/close may change the list.
    std::vector<std::shared_ptr<Conn>> targets(conns.begin(), conns.end());
    for (const auto& c : targets) {
      switch (f.kind) {
        case FaultKind::kDrop:
          Kill(c);
          break;
        case FaultKind::kStall:
          c->stalled_until = absl::Now() + f.duration / std::max(options.speed, 1e-9);
          c->wake.cancel();
          break;
        case FaultKind::kEnd: {
          // A live session is closed with END (CONERR only answers a
          // create or bind).
          const int code = f.code != 0 ? f.code : 32;
          EndSession(c, absl::StrCat("END,", code, ",", EncodeText(SessionCodeText(code))));
          break;
        }
        case FaultKind::kConerr:
          EndSession(c, absl::StrCat("END,32,", EncodeText(SessionCodeText(32))));
          break;
        case FaultKind::kLoop:
          // The session survives unbound; the client is expected to rebind,
          // on this WebSocket (which stays open) or on a new one.
          Send(c, "LOOP,0");
          Detach(c);
          break;
        case FaultKind::kGarbage: {
          static const char* kGarbage[] = {"U,999999,1,x|y", "NOT_A_TLCP_MESSAGE,1,2", "U,1",
                                           "SUBOK,x,y,z",    "EOS,999999,1",           "CONF"};
          for (int i = 0; i < f.lines; ++i) {
            Send(c, kGarbage[static_cast<size_t>(i) % std::size(kGarbage)]);
          }
          break;
        }
      }
    }
  }

  void EndSession(const std::shared_ptr<Conn>& c, std::string line) {
    Send(c, std::move(line));
    c->close_after_flush = true;
    if (c->session != nullptr) {
      const std::string id = c->session->id;
      c->session = nullptr;
      sessions.erase(id);
    }
  }

  void Count(uint64_t SimulatorStats::*field) {
    absl::MutexLock lock(&mu);
    ++(stats.*field);
  }

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
