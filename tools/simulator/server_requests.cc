// The simulator's TLCP requests (server_impl.h): create_session and
// bind_session (with the refusals a real server gives), control requests that
// subscribe and unsubscribe, and the updates a subscription is sent.
// clang-format off
#include <utility>  // before Asio (g++ 12 + Boost 1.74)
// clang-format on

#include <algorithm>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/catalog.h"
#include "common/log.h"
#include "common/net.h"
#include "common/percent.h"
#include "tools/simulator/server_impl.h"

namespace iss::sim {
namespace {

constexpr int64_t kRequestLimit = 50000;

// The field slot of a schema name (kIssliveFields order), or -1.
int FieldSlot(std::string_view name) {
  for (int i = 0; i < static_cast<int>(std::size(iss::kIssliveFields)); ++i) {
    if (name == iss::kIssliveFields[i]) return i;
  }
  return -1;
}

std::string Param(const std::map<std::string, std::string>& params, const std::string& key,
                  const std::string& def = "") {
  auto it = params.find(key);
  return it == params.end() ? def : it->second;
}

}  // namespace

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

FieldValues Simulator::Impl::Project(const Subscription& sub, size_t item_pos) const {
  const FieldValues& all = model.Current(static_cast<size_t>(sub.items[item_pos]));
  FieldValues out(sub.slots.size());
  for (size_t f = 0; f < sub.slots.size(); ++f) {
    if (sub.slots[f] >= 0) out[f] = all[static_cast<size_t>(sub.slots[f])];
  }
  return out;
}

void Simulator::Impl::SendUpdate(Session& s, Subscription& sub, size_t pos, FieldValues values,
                                 bool snapshot) {
  const bool first = sub.last[pos].empty();
  std::string line = absl::StrCat("U,", sub.id, ",", pos + 1, ",",
                                  tlcp::EncodeUpdate(first ? nullptr : &sub.last[pos], values));
  SentUpdate record{s.id, model.items()[static_cast<size_t>(sub.items[pos])], values, snapshot};
  sub.last[pos] = std::move(values);
  Send(s.conn, std::move(line), std::move(record));
}

std::string Simulator::Impl::NewSessionId() {
  std::random_device rd;
  return absl::StrFormat("S%08x%08x%08x%08x", rd(), rd(), rd(), rd());
}

bool Simulator::Impl::RefusedByConfiguration(const std::shared_ptr<Conn>& c) {
  if (refuse_code == 0) return false;
  Refuse(c, absl::StrCat("CONERR,", refuse_code, ",", EncodeText(SessionCodeText(refuse_code))));
  if (refuse_left > 0 && --refuse_left == 0) refuse_code = options.refuse_sessions_code;
  return true;
}

void Simulator::Impl::HandleCreate(const std::shared_ptr<Conn>& c,
                                   const std::map<std::string, std::string>& p) {
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

void Simulator::Impl::HandleBind(const std::shared_ptr<Conn>& c,
                                 const std::map<std::string, std::string>& p) {
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

void Simulator::Impl::Configure(Session& s, const std::map<std::string, std::string>& p) {
  int64_t ms = 5000;
  if (absl::SimpleAtoi(Param(p, "LS_keepalive_millis", "5000"), &ms)) {
    s.keepalive = absl::Milliseconds(std::clamp<int64_t>(ms, 50, 120000));
  }
  s.send_sync = Param(p, "LS_send_sync", "true") != "false";
}

void Simulator::Impl::Attach(const std::shared_ptr<Conn>& c, Session* s, bool created) {
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

std::string Simulator::Impl::Grant(const std::string& asked) const {
  double cap = 0, want = 0;
  const bool capped =
      !options.max_frequency.empty() && absl::SimpleAtod(options.max_frequency, &cap);
  if (asked == "unfiltered" && !capped) return "unlimited,unfiltered";
  if (!absl::SimpleAtod(asked, &want) || (capped && cap < want)) {
    return absl::StrCat(capped ? options.max_frequency : "unlimited", ",filtered");
  }
  return absl::StrCat(asked, ",filtered");
}

std::string Simulator::Impl::ControlLinkArg() const {
  if (control_port == 0) return "*";
  // Start() validated the address. A wildcard listener is reached on loopback.
  iss::net::HostPort link = *iss::net::ParseHostPort(options.address);
  if (link.host == "0.0.0.0") link.host = "127.0.0.1";
  if (link.host == "::") link.host = "::1";
  link.port = static_cast<uint16_t>(control_port);
  return link.ToString();
}

void Simulator::Impl::Detach(const std::shared_ptr<Conn>& c) {
  if (c->session != nullptr && c->session->conn == c) {
    c->session->conn = nullptr;
    c->session->unbound_since = absl::Now();
  }
  c->session = nullptr;
}

void Simulator::Impl::Refuse(const std::shared_ptr<Conn>& c, std::string line) {
  Count(&SimulatorStats::rejected);
  Send(c, std::move(line));
  c->close_after_flush = true;
}

void Simulator::Impl::HandleControl(const std::shared_ptr<Conn>& c,
                                    const std::map<std::string, std::string>& p) {
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

void Simulator::Impl::HandleRequest(const std::shared_ptr<Conn>& c, const std::string& name,
                                    const std::string& body) {
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> parsed = tlcp::ParseParams(body);
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

}  // namespace iss::sim
