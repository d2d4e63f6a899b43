// The simulator's TLCP server driven by a raw WebSocket client, line by line,
// the way the official clients talk to Lightstreamer: the handshake rules and
// every refused request.
// clang-format off
#include <utility>  // before Asio (g++ 12 + Boost 1.74)
// clang-format on

#include "tools/simulator/server.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/asio_names.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/wait.h"
#include "tlcp/codec.h"

namespace iss::sim {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::vector<std::string> kItems = {"TIME_000001", "NODE3000005", "NODE3000004", "S0000001"};

// A blocking TLCP-over-WebSocket client for tests: sends requests, reads lines.
class RawClient {
 public:
  explicit RawClient(int port, std::string subprotocol = "TLCP-2.2.0.lightstreamer.com",
                     std::string path = "/lightstreamer")
      : ws_(ioc_) {
    tcp::resolver resolver(ioc_);
    asio::connect(ws_.next_layer(), resolver.resolve("127.0.0.1", std::to_string(port)));
    ws_.set_option(websocket::stream_base::decorator([subprotocol](websocket::request_type& r) {
      if (!subprotocol.empty()) r.set(http::field::sec_websocket_protocol, subprotocol);
    }));
    websocket::response_type res;
    ws_.handshake(res, "127.0.0.1", path, ec_);
    if (!ec_) accepted_protocol_ = std::string(res[http::field::sec_websocket_protocol]);
    ws_.text(true);
  }
  bool ok() const { return !ec_; }
  const std::string& accepted_protocol() const { return accepted_protocol_; }

  void Send(const std::string& request) { ws_.write(asio::buffer(request)); }
  // Reads lines until one starts with `prefix` (returned) or the socket ends.
  std::string ReadUntil(const std::string& prefix, std::vector<std::string>* seen = nullptr) {
    while (true) {
      while (!lines_.empty()) {
        std::string line = std::move(lines_.front());
        lines_.erase(lines_.begin());
        if (seen) seen->push_back(line);
        if (absl::StartsWith(line, prefix)) return line;
      }
      beast::flat_buffer buf;
      beast::error_code ec;
      ws_.read(buf, ec);
      if (ec) return "<closed>";
      splitter_.Feed(beast::buffers_to_string(buf.data()), &lines_);
    }
  }
  // The answer to a create_session or bind_session: the next CONOK or CONERR.
  std::string ReadConnectionAnswer() {
    while (true) {
      std::string line = ReadUntil("CON");  // also CONS, CONF
      if (line == "<closed>" || absl::StartsWith(line, "CONOK") ||
          absl::StartsWith(line, "CONERR")) {
        return line;
      }
    }
  }
  std::string CreateSession(const std::string& extra = "") {
    Send("wsok");
    EXPECT_EQ(ReadUntil("WSOK"), "WSOK");
    Send("create_session\r\nLS_adapter_set=ISSLIVE&LS_cid=x&LS_keepalive_millis=300" + extra);
    return ReadUntil("CONOK");
  }

 private:
  asio::io_context ioc_;
  websocket::stream<tcp::socket> ws_;
  beast::error_code ec_;
  std::string accepted_protocol_;
  tlcp::LineSplitter splitter_;
  std::vector<std::string> lines_;
};

// Plain HTTP to the WebSocket port: status line of the answer.
std::string HttpGet(int port, const std::string& target) {
  asio::io_context ioc;
  tcp::socket s(ioc);
  tcp::resolver resolver(ioc);
  asio::connect(s, resolver.resolve("127.0.0.1", std::to_string(port)));
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(s, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res);
  return absl::StrCat(res.result_int());
}

class SimulatorServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Restart(SimulatorOptions()); }
  // A fresh simulator with `o` (address, items and recording set here).
  void Restart(SimulatorOptions o) {
    sim_.reset();
    Scenario s;
    s.updates_per_second = 0;
    s.urinations_per_hour = 0;
    s.flicker_per_hour = 0;
    s.time_period = absl::Hours(1);
    o.address = "127.0.0.1:0";
    o.items = kItems;
    o.record = true;
    auto sim = Simulator::Start(s, o);
    ASSERT_TRUE(sim.ok()) << sim.status();
    sim_ = *std::move(sim);
  }
  std::unique_ptr<Simulator> sim_;
};

bool Has(const std::vector<std::string>& lines, const std::string& prefix) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return absl::StartsWith(l, prefix); });
}

// TLCP "Session Creation/Binding Response": SERVNAME and CLIENTIP follow a
// create, and a bind only when they changed; CONS follows both. LOOP leaves
// the WebSocket open, and the session can be bound again on it.
TEST_F(SimulatorServerTest, ServerNameAndClientIpOncePerSessionAndLoopKeepsTheSocket) {
  RawClient a(sim_->port(), "TLCP-2.5.0.lightstreamer.com");
  ASSERT_EQ(a.accepted_protocol(), "TLCP-2.5.0.lightstreamer.com");
  a.Send("wsok");
  a.ReadUntil("WSOK");
  a.Send(
      "create_session\r\nLS_adapter_set=ISSLIVE&LS_cid=x&LS_keepalive_millis=300&LS_supported_"
      "diffs=");
  std::vector<std::string> created;
  const std::string conok = a.ReadUntil("CONOK", &created);
  a.ReadUntil("NOOP", &created);
  EXPECT_TRUE(Has(created, "SERVNAME,ISSLIVE Simulator"));
  EXPECT_TRUE(Has(created, "CLIENTIP,127.0.0.1"));
  EXPECT_TRUE(Has(created, "CONS,unlimited"));
  const std::string id = std::vector<std::string>(absl::StrSplit(conok, ','))[1];

  Fault loop;
  loop.kind = FaultKind::kLoop;
  sim_->Inject(loop);
  EXPECT_EQ(a.ReadUntil("LOOP"), "LOOP,0");
  a.Send(absl::StrCat("bind_session\r\nLS_session=", id, "&LS_keepalive_millis=300"));
  std::vector<std::string> bound;
  EXPECT_THAT(a.ReadUntil("CONOK", &bound), StartsWith(absl::StrCat("CONOK,", id, ",")));
  a.ReadUntil("PROBE", &bound);
  EXPECT_TRUE(Has(bound, "CONS,"));
  EXPECT_FALSE(Has(bound, "SERVNAME")) << "unchanged: omitted on a bind";
  EXPECT_FALSE(Has(bound, "CLIENTIP")) << "unchanged: omitted on a bind";
  EXPECT_EQ(sim_->stats().sessions_bound, 1u);
}

// SYNC: seconds since the session was bound to this connection.
TEST_F(SimulatorServerTest, SyncCountsFromEachBind) {
  SimulatorOptions o;
  o.sync_period = absl::Milliseconds(200);
  Restart(o);
  RawClient a(sim_->port());
  const std::string id = std::vector<std::string>(absl::StrSplit(a.CreateSession(), ','))[1];
  EXPECT_EQ(a.ReadUntil("SYNC,1"), "SYNC,1");
  Fault loop;
  loop.kind = FaultKind::kLoop;
  sim_->Inject(loop);
  a.ReadUntil("LOOP");
  a.Send(absl::StrCat("bind_session\r\nLS_session=", id, "&LS_keepalive_millis=300"));
  a.ReadUntil("CONOK");
  EXPECT_EQ(a.ReadUntil("SYNC,"), "SYNC,0");
}

TEST_F(SimulatorServerTest, NamedItemsAreRefusedWithTheirRequest) {
  SimulatorOptions o;
  o.refused_items = {{"NODE3000004", 21}};
  Restart(o);
  RawClient c(sim_->port());
  c.CreateSession();
  c.Send(
      "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=TIME_000001%20NODE3000004"
      "&LS_schema=Value&LS_snapshot=true");
  const std::string refused = c.ReadUntil("REQERR");
  EXPECT_THAT(refused, StartsWith("REQERR,1,21,"));
  EXPECT_EQ(tlcp::DecodeText(
                std::vector<std::string>(absl::StrSplit(refused, absl::MaxSplits(',', 3)))[3]),
            "Item not served, refused by the Metadata Adapter");
  c.Send(
      "control\r\nLS_reqId=2&LS_op=add&LS_subId=2&LS_mode=MERGE&LS_group=TIME_000001"
      "&LS_schema=Value&LS_snapshot=true");
  EXPECT_EQ(c.ReadUntil("SUBOK"), "SUBOK,2,1,1");
}

TEST_F(SimulatorServerTest, TheGrantedFrequencyIsWhatWasAskedCappedByTheServer) {
  SimulatorOptions o;
  o.max_frequency = "2";
  Restart(o);
  RawClient c(sim_->port());
  c.CreateSession();
  int id = 0;
  for (const char* asked : {"unlimited", "0.5", "10"}) {
    ++id;
    c.Send(absl::StrCat("control\r\nLS_reqId=", id, "&LS_op=add&LS_subId=", id,
                        "&LS_mode=MERGE&LS_group=TIME_000001&LS_schema=Value"
                        "&LS_requested_max_frequency=",
                        asked));
  }
  std::vector<std::string> seen;
  c.ReadUntil("CONF,3", &seen);
  EXPECT_TRUE(Has(seen, "CONF,1,2,filtered"));
  EXPECT_TRUE(Has(seen, "CONF,2,0.5,filtered"));
  EXPECT_TRUE(Has(seen, "CONF,3,2,filtered"));
}

// A live session is closed with END; CONERR answers create/bind requests.
TEST_F(SimulatorServerTest, EndClosesLiveSessionsAndConerrRefusesTheNextRequests) {
  RawClient a(sim_->port());
  a.CreateSession();
  Fault end;
  end.kind = FaultKind::kEnd;
  end.code = 48;
  sim_->Inject(end);
  EXPECT_EQ(a.ReadUntil("END"), "END,48,Maximum session duration reached%2C open a new session");

  RawClient b(sim_->port());
  b.CreateSession();
  Fault conerr;
  conerr.kind = FaultKind::kConerr;
  conerr.code = 5;
  conerr.count = 2;
  sim_->Inject(conerr);
  EXPECT_THAT(b.ReadUntil("END"), StartsWith("END,32,"));
  for (int i = 0; i < 2; ++i) {
    RawClient c(sim_->port());
    c.Send("create_session\r\nLS_adapter_set=ISSLIVE&LS_cid=x");
    EXPECT_EQ(c.ReadConnectionAnswer(), "CONERR,5,Server temporarily overloaded%2C retry later");
  }
  RawClient d(sim_->port());
  EXPECT_THAT(d.CreateSession(), StartsWith("CONOK,"));
}

TEST_F(SimulatorServerTest, PermanentRefusalOfEverySession) {
  SimulatorOptions o;
  o.refuse_sessions_code = 2;
  Restart(o);
  for (int i = 0; i < 3; ++i) {
    RawClient c(sim_->port());
    c.Send("create_session\r\nLS_adapter_set=ISSLIVE&LS_cid=x");
    EXPECT_EQ(c.ReadConnectionAnswer(), "CONERR,2,Requested Adapter Set not available");
  }
  EXPECT_EQ(sim_->stats().sessions_created, 0u);
}

// A server with a control link names it in CONOK; binds made there work.
TEST_F(SimulatorServerTest, ControlLinkIsHandedOutAndServed) {
  SimulatorOptions o;
  o.control_link = true;
  Restart(o);
  ASSERT_GT(sim_->control_link_port(), 0);
  ASSERT_NE(sim_->control_link_port(), sim_->port());
  RawClient a(sim_->port());
  std::vector<std::string> conok = absl::StrSplit(a.CreateSession(), ',');
  ASSERT_EQ(conok.size(), 5u);
  EXPECT_EQ(conok[4], absl::StrCat("127.0.0.1:", sim_->control_link_port()));
  Fault loop;
  loop.kind = FaultKind::kLoop;
  sim_->Inject(loop);
  a.ReadUntil("LOOP");
  RawClient b(sim_->control_link_port());
  ASSERT_TRUE(b.ok());
  b.Send(absl::StrCat("bind_session\r\nLS_session=", conok[1], "&LS_keepalive_millis=200"));
  EXPECT_THAT(b.ReadUntil("CONOK"), StartsWith(absl::StrCat("CONOK,", conok[1], ",")));
  EXPECT_EQ(sim_->stats().control_link_binds, 1u);
  EXPECT_EQ(sim_->stats().control_link_connections, 1u);
}

TEST_F(SimulatorServerTest, SessionSubscriptionSnapshotAndProbe) {
  RawClient c(sim_->port());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.accepted_protocol(), "TLCP-2.2.0.lightstreamer.com");
  const std::string conok = c.CreateSession();
  std::vector<std::string> parts = absl::StrSplit(conok, ',');
  ASSERT_EQ(parts.size(), 5u) << conok;
  EXPECT_EQ(parts[2], "50000");
  EXPECT_EQ(parts[3], "300");  // the keep-alive we asked for
  EXPECT_EQ(parts[4], "*");
  EXPECT_EQ(c.ReadUntil("SERVNAME"), "SERVNAME,ISSLIVE Simulator");
  EXPECT_EQ(c.ReadUntil("CLIENTIP"), "CLIENTIP,127.0.0.1");
  c.Send(
      "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=NODE3000005%20NODE3000004"
      "&LS_schema=Value%20CalibratedData%20Unknown.Field&LS_snapshot=true");
  EXPECT_EQ(c.ReadUntil("REQOK"), "REQOK,1");
  EXPECT_EQ(c.ReadUntil("SUBOK"), "SUBOK,1,2,3");
  EXPECT_EQ(c.ReadUntil("CONF"), "CONF,1,unlimited,filtered");
  // Snapshot: every field, an unknown field is null, CalibratedData "" is "$".
  // MERGE: the first update is the snapshot, no EOS.
  std::vector<std::string> seen;
  EXPECT_EQ(c.ReadUntil("U,"), "U,1,1,40|$|#");
  EXPECT_EQ(c.ReadUntil("U,"), "U,1,2,32|STANDBY|#");
  // Nothing else to say: PROBE after the keep-alive.
  EXPECT_EQ(c.ReadUntil("PROBE", &seen), "PROBE");
  for (const auto& l : seen) EXPECT_FALSE(absl::StartsWith(l, "EOS")) << l;
  // DISTINCT gets EOS after its snapshot; RAW has no snapshot.
  c.Send(
      "control\r\nLS_reqId=2&LS_op=add&LS_subId=2&LS_mode=DISTINCT&LS_group=NODE3000005"
      "&LS_schema=Value&LS_snapshot=true");
  EXPECT_EQ(c.ReadUntil("U,2"), "U,2,1,40");
  EXPECT_EQ(c.ReadUntil("EOS"), "EOS,2,1");
  c.Send(
      "control\r\nLS_reqId=3&LS_op=add&LS_subId=3&LS_mode=RAW&LS_group=NODE3000005"
      "&LS_schema=Value&LS_snapshot=true");
  seen.clear();
  EXPECT_EQ(c.ReadUntil("PROBE", &seen), "PROBE");
  for (const auto& l : seen) EXPECT_FALSE(absl::StartsWith(l, "U,3")) << l;
  EXPECT_EQ(sim_->stats().sessions_created, 1u);
}

// Stop() writes out every update already made, even one a simulated stall was
// holding back (seen as "lost" updates in a fault test that stopped the feed
// during a stall); an update counts as sent once it is on the wire.
TEST_F(SimulatorServerTest, StopWritesOutWhatAStallHeldBack) {
  RawClient c(sim_->port());
  ASSERT_TRUE(c.ok());
  c.CreateSession();
  ASSERT_EQ(c.ReadUntil("CLIENTIP"), "CLIENTIP,127.0.0.1");
  Fault stall;
  stall.kind = FaultKind::kStall;
  stall.duration = absl::Hours(1);
  sim_->Inject(stall);
  c.Send(
      "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=NODE3000005"
      "&LS_schema=Value&LS_snapshot=true");
  // The request is handled (and its snapshot queued) on the simulator's one
  // I/O thread, before Stop()'s drain runs there.
  ASSERT_TRUE(iss::testing::WaitFor([&] { return sim_->stats().control_requests >= 1; }));
  EXPECT_EQ(sim_->stats().updates_sent, 0u);  // held back: not on the wire yet
  sim_->Stop();
  EXPECT_EQ(c.ReadUntil("U,"), "U,1,1,40");
  EXPECT_EQ(sim_->stats().updates_sent, 1u);
  ASSERT_EQ(sim_->Sent().size(), 1u);
  EXPECT_EQ(sim_->Sent()[0].item_id, "NODE3000005");
}

TEST_F(SimulatorServerTest, NoSnapshotNoAckAndDelete) {
  RawClient c(sim_->port());
  c.CreateSession();
  c.Send(
      "control\r\nLS_reqId=7&LS_op=add&LS_subId=3&LS_mode=MERGE&LS_group=TIME_000001"
      "&LS_schema=Value&LS_snapshot=false&LS_ack=false");
  std::vector<std::string> seen;
  EXPECT_EQ(c.ReadUntil("SUBOK", &seen), "SUBOK,3,1,1");
  for (const auto& l : seen) EXPECT_FALSE(absl::StartsWith(l, "REQOK")) << l;
  c.Send("control\r\nLS_reqId=8&LS_op=delete&LS_subId=3");
  seen.clear();
  EXPECT_EQ(c.ReadUntil("UNSUB", &seen), "UNSUB,3");
  for (const auto& l : seen) EXPECT_FALSE(absl::StartsWith(l, "U,")) << l;
  EXPECT_EQ(sim_->stats().control_requests, 2u);
}

TEST_F(SimulatorServerTest, SeveralRequestsInOneMessage) {
  RawClient c(sim_->port());
  c.CreateSession();
  // A parameterless heartbeat, then two subscriptions, in one WebSocket message.
  c.Send(
      "heartbeat\r\n"
      "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=TIME_000001"
      "&LS_schema=Value&LS_snapshot=false\r\n"
      "control\r\nLS_reqId=2&LS_op=add&LS_subId=2&LS_mode=MERGE&LS_group=NODE3000005"
      "&LS_schema=Value&LS_snapshot=false\r\n");
  EXPECT_EQ(c.ReadUntil("SUBOK,1"), "SUBOK,1,1,1");
  EXPECT_EQ(c.ReadUntil("SUBOK,2"), "SUBOK,2,1,1");
  EXPECT_EQ(sim_->stats().rejected, 0u);
}

TEST_F(SimulatorServerTest, RefusedRequests) {
  RawClient c(sim_->port());
  c.Send(
      "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=TIME_000001&LS_schema="
      "Value");
  EXPECT_THAT(c.ReadUntil("REQERR"), StartsWith("REQERR,1,20,"));  // no session yet
  c.CreateSession();
  struct Case {
    std::string request;
    std::string answer;
  } cases[] = {
      {"control\r\nLS_reqId=2&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=NOPE&LS_schema=Value",
       "REQERR,2,21,"},
      {"control\r\nLS_reqId=3&LS_op=add&LS_subId=1&LS_mode=COMMAND&LS_group=TIME_000001&LS_schema="
       "Value",
       "REQERR,3,24,"},
      {"control\r\nLS_reqId=4&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=TIME_000001&LS_schema=",
       "REQERR,4,23,"},
      {"control\r\nLS_reqId=5&LS_op=delete&LS_subId=77", "REQERR,5,19,"},
      // TLCP Appendix B: 65 "invalid argument values", 67 "malformed request".
      {"control\r\nLS_reqId=6&LS_op=reconf&LS_subId=1", "REQERR,6,65,"},
      {"control\r\nLS_reqId=7&LS_op=add&LS_subId=x", "REQERR,7,65,"},
      {"control\r\nLS_op=add&LS_subId=1", "ERROR,67,"},
      {"control\r\nLS_reqId=%zz", "ERROR,67,"},
      {"frobnicate\r\nLS_x=1", "ERROR,67,"},
  };
  for (const Case& k : cases) {
    c.Send(k.request);
    const std::string prefix = k.answer.substr(0, k.answer.find(','));
    EXPECT_THAT(c.ReadUntil(prefix), StartsWith(k.answer)) << k.request;
  }
  // The session survived all of that.
  c.Send(
      "control\r\nLS_reqId=9&LS_op=add&LS_subId=9&LS_mode=MERGE&LS_group=TIME_000001"
      "&LS_schema=Value&LS_snapshot=true");
  EXPECT_EQ(c.ReadUntil("SUBOK"), "SUBOK,9,1,1");
  EXPECT_GE(sim_->stats().rejected, 10u);
}

TEST_F(SimulatorServerTest, BadAdapterSetAndUnknownSessionAreConnectionErrors) {
  {
    RawClient c(sim_->port());
    c.Send("create_session\r\nLS_adapter_set=NOPE&LS_cid=x");
    EXPECT_THAT(c.ReadUntil("CONERR"), StartsWith("CONERR,2,"));
    EXPECT_EQ(c.ReadUntil("never"), "<closed>");
  }
  {
    RawClient c(sim_->port());
    c.Send("bind_session\r\nLS_session=Snothing");
    EXPECT_THAT(c.ReadUntil("CONERR"), StartsWith("CONERR,20,"));
    EXPECT_EQ(c.ReadUntil("never"), "<closed>");
  }
  EXPECT_EQ(sim_->stats().sessions_created, 0u);
  // One WebSocket carries one session (TLCP code 69).
  for (const char* second :
       {"create_session\r\nLS_adapter_set=ISSLIVE&LS_cid=x", "bind_session\r\nLS_session=Sother"}) {
    RawClient c(sim_->port());
    c.CreateSession();
    c.Send(second);
    EXPECT_THAT(c.ReadConnectionAnswer(), StartsWith("CONERR,69,")) << second;
  }
}

TEST_F(SimulatorServerTest, BindMovesAnUnboundSessionToANewConnection) {
  RawClient a(sim_->port());
  std::vector<std::string> conok = absl::StrSplit(a.CreateSession(), ',');
  a.Send(
      "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=NODE3000005"
      "&LS_schema=Value&LS_snapshot=true");
  EXPECT_EQ(a.ReadUntil("U,1"), "U,1,1,40");
  Fault loop;
  loop.kind = FaultKind::kLoop;  // the session is unbound and waits for a rebind
  sim_->Inject(loop);
  EXPECT_EQ(a.ReadUntil("LOOP"), "LOOP,0");
  RawClient b(sim_->port());
  b.Send(absl::StrCat("bind_session\r\nLS_session=", conok[1], "&LS_keepalive_millis=200"));
  EXPECT_EQ(b.ReadUntil("CONOK"), absl::StrCat("CONOK,", conok[1], ",50000,200,*"));
  EXPECT_EQ(b.ReadUntil("PROBE"), "PROBE");  // streaming on the new connection
  EXPECT_EQ(sim_->stats().sessions_bound, 1u);
}

// The session id is a bearer secret: a bind_session of a session that is
// streaming on another connection is refused (as for an unknown id), and that
// connection keeps streaming the session.
TEST_F(SimulatorServerTest, BindOfASessionStreamingElsewhereIsRefusedAndTheStreamGoesOn) {
  RawClient a(sim_->port());
  std::vector<std::string> conok = absl::StrSplit(a.CreateSession(), ',');
  ASSERT_GE(conok.size(), 2u);
  EXPECT_EQ(conok[1].size(), 33u) << "S + 128 bits in hex";
  a.Send(
      "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=NODE3000005"
      "&LS_schema=Value&LS_snapshot=true");
  EXPECT_EQ(a.ReadUntil("U,1"), "U,1,1,40");

  for (int attempt = 0; attempt < 2; ++attempt) {  // repeatably
    RawClient b(sim_->port());
    b.Send("wsok");
    EXPECT_EQ(b.ReadUntil("WSOK"), "WSOK");
    b.Send(absl::StrCat("bind_session\r\nLS_session=", conok[1], "&LS_keepalive_millis=200"));
    const std::string answer = b.ReadConnectionAnswer();
    EXPECT_THAT(answer, StartsWith("CONERR,20,"));
    if (absl::StartsWith(answer, "CONERR")) {
      EXPECT_EQ(b.ReadUntil("never"), "<closed>");
    }
  }

  // Still a's session, on a's connection: a new subscription answers there,
  // and the stream keeps going.
  a.Send(
      "control\r\nLS_reqId=2&LS_op=add&LS_subId=2&LS_mode=MERGE&LS_group=NODE3000004"
      "&LS_schema=Value&LS_snapshot=true");
  EXPECT_EQ(a.ReadUntil("SUBOK"), "SUBOK,2,1,1");
  EXPECT_THAT(a.ReadUntil("U,2"), StartsWith("U,2,1,"));
  EXPECT_EQ(a.ReadUntil("PROBE"), "PROBE");
  EXPECT_EQ(sim_->stats().sessions_bound, 0u);
}

TEST_F(SimulatorServerTest, HandshakeRules) {
  EXPECT_EQ(HttpGet(sim_->port(), "/lightstreamer"), "400");  // not a WebSocket upgrade
  RawClient no_proto(sim_->port(), "");
  EXPECT_FALSE(no_proto.ok());
  RawClient wrong_proto(sim_->port(), "chat, superchat");
  EXPECT_FALSE(wrong_proto.ok());
  RawClient wrong_path(sim_->port(), "TLCP-2.2.0.lightstreamer.com", "/elsewhere");
  EXPECT_FALSE(wrong_path.ok());
  // Offered among others, the TLCP one is picked.
  RawClient picky(sim_->port(), "chat, TLCP-2.5.0.lightstreamer.com");
  ASSERT_TRUE(picky.ok());
  EXPECT_EQ(picky.accepted_protocol(), "TLCP-2.5.0.lightstreamer.com");
  EXPECT_GE(sim_->stats().rejected, 4u);
}

TEST_F(SimulatorServerTest, BadListenAddress) {
  SimulatorOptions o;
  o.address = "nonsense";
  EXPECT_EQ(Simulator::Start(Scenario(), o).status().code(), absl::StatusCode::kInvalidArgument);
  o.address = "127.0.0.1:99999";
  EXPECT_EQ(Simulator::Start(Scenario(), o).status().code(), absl::StatusCode::kInvalidArgument);
  o.address = absl::StrCat("127.0.0.1:", sim_->port());  // taken
  EXPECT_EQ(Simulator::Start(Scenario(), o).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace iss::sim
