// The real client against the real simulator over loopback WebSockets:
// subscription, snapshot, compact updates decoded exactly as sent, and every
// way a stream breaks (drop, stall, END, CONERR, LOOP, garbage, refused
// handshakes) with the reconnect, rebind and circuit-breaker behaviour.
#include "services/ingestion/tlcp/client.h"

#include <functional>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/catalog.h"
#include "common/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/wait.h"
#include "tools/simulator/server.h"

namespace iss::tlcp {
namespace {

using iss::ingest::v1::CONNECTION_STATE_CIRCUIT_OPEN;
using iss::ingest::v1::CONNECTION_STATE_CONNECTED;
using iss::testing::WaitFor;

constexpr absl::Duration kWait = absl::Seconds(10);

class RecordingSink : public ingest::UpdateSink {
 public:
  bool Deliver(ingest::RawUpdate u) override {
    absl::MutexLock lock(&mu_);
    updates_.push_back(std::move(u));
    return true;
  }
  std::vector<ingest::RawUpdate> updates() const {
    absl::MutexLock lock(&mu_);
    return updates_;
  }
  size_t size() const {
    absl::MutexLock lock(&mu_);
    return updates_.size();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<ingest::RawUpdate> updates_;
};

sim::Fault MakeFault(sim::FaultKind kind, absl::Duration duration = absl::Seconds(30),
                     int lines = 3) {
  sim::Fault f;
  f.kind = kind;
  f.duration = duration;
  f.lines = lines;
  return f;
}

FieldValues ToFields(const ingest::RawUpdate& u) {
  return {u.value,        u.timestamp,      u.status_class, u.status_indicator,
          u.status_color, u.calibrated_data};
}

// A sample's value in the process registry: name{labels} value.
double MetricValue(const std::string& name, const std::string& labels = "") {
  const std::string key = labels.empty() ? name : absl::StrCat(name, "{", labels, "}");
  for (absl::string_view line : absl::StrSplit(metrics::Serialize(), '\n')) {
    if (absl::StartsWith(line, key) && line.size() > key.size() && line[key.size()] == ' ') {
      double v = 0;
      if (absl::SimpleAtod(line.substr(key.size() + 1), &v)) return v;
    }
  }
  return 0;
}

class ClientSimulatorTest : public ::testing::Test {
 protected:
  void StartSimulator(sim::Scenario scenario = Quiet(), double speed = 20,
                      const std::function<void(sim::SimulatorOptions&)>& tweak = nullptr) {
    sim::SimulatorOptions o;
    if (tweak) tweak(o);
    o.address = "127.0.0.1:0";
    o.speed = speed;
    o.record = true;
    o.tick = absl::Milliseconds(5);
    o.sync_period = absl::Milliseconds(300);
    auto s = sim::Simulator::Start(std::move(scenario), o);
    ASSERT_TRUE(s.ok()) << s.status();
    sim_ = *std::move(s);
  }
  static sim::Scenario Quiet() {
    sim::Scenario s;
    s.seed = 99;
    s.updates_per_second = 15;  // x speed 20 = 300 updates/s
    s.urinations = {{absl::Seconds(5), 8, absl::Seconds(5)}};
    s.urinations_per_hour = 0;
    return s;
  }
  ClientOptions Options() {
    ClientOptions o;
    o.host = "127.0.0.1";
    o.port = sim_ ? sim_->port() : 1;
    o.tls = false;
    o.items = Items();
    o.keepalive = absl::Milliseconds(200);
    // Generous, so a slow machine never fakes a stall; the stall test narrows it.
    o.stall_margin = absl::Seconds(2);
    o.backoff_initial = absl::Milliseconds(100);
    o.backoff_max = absl::Milliseconds(400);
    o.circuit_failures = 4;
    o.circuit_open_for = absl::Seconds(30);
    o.connect_timeout = absl::Seconds(1);
    return o;
  }
  static std::vector<std::string> Items() {
    std::vector<std::string> items;
    for (const CatalogItem& c : Catalog::Embedded().items()) items.push_back(c.item_id);
    if (!Catalog::Embedded().Contains(kTimeItem)) items.emplace_back(kTimeItem);
    return items;
  }
  void StartClient(ClientOptions o) {
    client_ = std::make_unique<Client>(std::move(o), &sink_);
    ASSERT_TRUE(client_->Start().ok());
  }
  bool Connected() const { return client_->Status().state == CONNECTION_STATE_CONNECTED; }
  bool WaitConnectedWithUpdates(size_t at_least) {
    return WaitFor([&] { return Connected() && sink_.size() >= at_least; }, kWait);
  }

  // Every update the client delivered equals what the simulator sent, in
  // order, session by session: the client's deliveries split into one
  // segment per session (each opens with the snapshot of the first item) and
  // each segment is a prefix of that session's record.
  void ExpectDeliveredEqualsSent() {
    client_->Stop();
    // A line counts as sent once the simulator's write completes, which may
    // be after the client read it: stop the simulator (joining its thread)
    // so every completion has run before its record is read.
    sim_->Stop();
    const std::vector<ingest::RawUpdate> got = sink_.updates();
    const std::vector<sim::SentUpdate> sent = sim_->Sent();
    std::vector<std::string> order;
    std::map<std::string, std::vector<const sim::SentUpdate*>> by_session;
    for (const sim::SentUpdate& s : sent) {
      if (!by_session.count(s.session_id)) order.push_back(s.session_id);
      by_session[s.session_id].push_back(&s);
    }
    const std::string first_item = Items().front();
    int segment = -1;
    size_t pos = 0;
    size_t compared = 0;
    for (const ingest::RawUpdate& u : got) {
      if (u.snapshot && u.item_id == first_item) {
        ++segment;
        pos = 0;
      }
      ASSERT_GE(segment, 0) << "first delivery is not the snapshot";
      ASSERT_LT(static_cast<size_t>(segment), order.size());
      const auto& record = by_session[order[static_cast<size_t>(segment)]];
      ASSERT_LT(pos, record.size()) << "delivered more than session " << segment << " was sent";
      const sim::SentUpdate& s = *record[pos++];
      ASSERT_EQ(u.item_id, s.item_id) << "segment " << segment << " position " << pos;
      ASSERT_EQ(ToFields(u), s.values) << u.raw;
      ASSERT_EQ(u.snapshot, s.snapshot) << u.raw;
      ++compared;
    }
    EXPECT_GT(compared, 0u);
  }

  RecordingSink sink_;
  std::unique_ptr<sim::Simulator> sim_;
  std::unique_ptr<Client> client_;
};

TEST_F(ClientSimulatorTest, SubscribesSnapshotThenDecodesUpdatesExactly) {
  StartSimulator();
  StartClient(Options());
  const size_t items = Items().size();
  ASSERT_TRUE(WaitConnectedWithUpdates(items + 600));
  const ClientStatus st = client_->Status();
  EXPECT_EQ(st.subscribed_items, items);
  EXPECT_FALSE(st.session_id.empty());
  EXPECT_EQ(st.server, absl::StrCat("127.0.0.1:", sim_->port()));
  EXPECT_EQ(st.reconnects, 0u);
  // ~274 items in batches of 100: three control requests.
  EXPECT_EQ(sim_->stats().control_requests, (items + 99) / 100);
  // Each item's first update is its snapshot, and there is one per item
  // (batches are subscribed one after the other, so live updates of the
  // first batch may come before the snapshot of the last).
  const auto got = sink_.updates();
  std::map<std::string, int> snapshots;
  std::set<std::string> seen;
  for (const auto& u : got) {
    if (seen.insert(u.item_id).second) {
      EXPECT_TRUE(u.snapshot) << u.item_id;
    }
    snapshots[u.item_id] += u.snapshot;
  }
  EXPECT_EQ(seen.size(), items);
  for (const auto& [item, n] : snapshots) EXPECT_EQ(n, 1) << item;
  // The urine tank rose 1 % at a time.
  ASSERT_TRUE(WaitFor(
      [&] {
        int rises = 0;
        for (const auto& u : sink_.updates()) rises += u.item_id == kUrineTankItem && !u.snapshot;
        return rises >= 3;
      },
      kWait));
  ExpectDeliveredEqualsSent();
}

TEST_F(ClientSimulatorTest, ProbesKeepAQuietStreamAlive) {
  sim::Scenario quiet = Quiet();
  quiet.updates_per_second = 0;
  quiet.urinations.clear();
  quiet.flicker_per_hour = 0;
  quiet.time_period = absl::Hours(1);  // nothing at all to send
  StartSimulator(quiet);
  StartClient(Options());
  ASSERT_TRUE(WaitConnectedWithUpdates(Items().size()));
  const uint64_t probes = sim_->stats().probes_sent;
  // Several keep-alive periods with no data: PROBEs flow, no stall is declared.
  ASSERT_TRUE(WaitFor([&] { return sim_->stats().probes_sent >= probes + 8; }, kWait));
  EXPECT_EQ(client_->Status().reconnects, 0u);
  EXPECT_TRUE(Connected());
  EXPECT_GT(sim_->stats().syncs_sent, 0u);
}

TEST_F(ClientSimulatorTest, ServerDropReconnectsAndResubscribes) {
  StartSimulator();
  StartClient(Options());
  ASSERT_TRUE(WaitConnectedWithUpdates(Items().size() + 100));
  const std::string first = client_->Status().session_id;
  const double drops = MetricValue("iss_ingest_reconnects_total", "cause=\"closed\"");
  sim_->Inject(MakeFault(sim::FaultKind::kDrop));
  ASSERT_TRUE(WaitFor(
      [&] {
        const ClientStatus st = client_->Status();
        return st.reconnects >= 1 && st.state == CONNECTION_STATE_CONNECTED &&
               st.session_id != first && st.subscribed_items == Items().size();
      },
      kWait));
  EXPECT_GE(sim_->stats().sessions_created, 2u);
  EXPECT_GE(MetricValue("iss_ingest_reconnects_total", "cause=\"closed\""), drops + 1);
  const size_t now = sink_.size();
  ASSERT_TRUE(WaitFor([&] { return sink_.size() >= now + 200; }, kWait));
  ExpectDeliveredEqualsSent();
}

TEST_F(ClientSimulatorTest, StallIsDetectedAndReconnected) {
  StartSimulator();
  ClientOptions o = Options();
  o.stall_margin = absl::Milliseconds(300);
  StartClient(o);
  ASSERT_TRUE(WaitConnectedWithUpdates(Items().size() + 100));
  const std::string first = client_->Status().session_id;
  const double stalls = MetricValue("iss_ingest_reconnects_total", "cause=\"stall\"");
  const absl::Time injected = absl::Now();
  // Silence, PROBEs included, for an hour of scenario time.
  sim_->Inject(MakeFault(sim::FaultKind::kStall, absl::Hours(1)));
  ASSERT_TRUE(WaitFor(
      [&] { return MetricValue("iss_ingest_reconnects_total", "cause=\"stall\"") >= stalls + 1; },
      kWait));
  // Detected after keep-alive (200 ms) + margin (300 ms), not long after.
  const absl::Duration detected = absl::Now() - injected;
  EXPECT_GE(detected, absl::Milliseconds(400));
  EXPECT_LT(detected, absl::Seconds(3));
  ASSERT_TRUE(WaitFor(
      [&] {
        const ClientStatus st = client_->Status();
        return Connected() && st.session_id != first && st.subscribed_items == Items().size();
      },
      kWait));
  const size_t now = sink_.size();
  ASSERT_TRUE(WaitFor([&] { return sink_.size() >= now + 100; }, kWait));
  ExpectDeliveredEqualsSent();
}

TEST_F(ClientSimulatorTest, EndAndConerrReconnectWithBackoff) {
  StartSimulator();
  StartClient(Options());
  ASSERT_TRUE(WaitConnectedWithUpdates(Items().size() + 50));
  for (sim::FaultKind kind : {sim::FaultKind::kEnd, sim::FaultKind::kConerr}) {
    SCOPED_TRACE(sim::FaultName(kind));
    const std::string before = client_->Status().session_id;
    const uint64_t reconnects = client_->Status().reconnects;
    const absl::Time injected = absl::Now();
    sim_->Inject(MakeFault(kind));
    ASSERT_TRUE(WaitFor(
        [&] {
          const ClientStatus st = client_->Status();
          return st.reconnects > reconnects && st.state == CONNECTION_STATE_CONNECTED &&
                 st.session_id != before && st.session_id != "";
        },
        kWait));
    // The backoff after a healthy session is initial/2 .. initial (100 ms).
    EXPECT_GE(absl::Now() - injected, absl::Milliseconds(50));
  }
  EXPECT_GE(MetricValue("iss_ingest_reconnects_total", "cause=\"end\""), 1);
  EXPECT_GE(MetricValue("iss_ingest_reconnects_total", "cause=\"conerr\""), 1);
  EXPECT_GE(MetricValue("iss_ingest_tlcp_notices_total", "kind=\"session_ended\""), 1);
  EXPECT_GE(sim_->stats().sessions_created, 3u);
  const size_t now = sink_.size();
  ASSERT_TRUE(WaitFor([&] { return sink_.size() >= now + 100; }, kWait));
  ExpectDeliveredEqualsSent();
}

TEST_F(ClientSimulatorTest, LoopRebindsTheSameSessionWithoutResubscribing) {
  StartSimulator();
  StartClient(Options());
  ASSERT_TRUE(WaitConnectedWithUpdates(Items().size() + 100));
  const std::string session = client_->Status().session_id;
  const uint64_t controls = sim_->stats().control_requests;
  sim_->Inject(MakeFault(sim::FaultKind::kLoop));
  ASSERT_TRUE(WaitFor([&] { return sim_->stats().sessions_bound >= 1 && Connected(); }, kWait));
  const size_t now = sink_.size();
  ASSERT_TRUE(WaitFor([&] { return sink_.size() >= now + 200; }, kWait));
  EXPECT_EQ(client_->Status().session_id, session);
  EXPECT_EQ(sim_->stats().sessions_created, 1u);
  EXPECT_EQ(sim_->stats().control_requests, controls);  // subscriptions survived
  // Compact updates after the rebind are relative to the state kept across it.
  ExpectDeliveredEqualsSent();
}

TEST_F(ClientSimulatorTest, LoopThenServerGoneBacksOffInsteadOfSpinning) {
  StartSimulator();
  ClientOptions o = Options();
  o.circuit_failures = 1000;  // backoff alone must keep the attempts few
  StartClient(o);
  ASSERT_TRUE(WaitConnectedWithUpdates(Items().size()));
  sim_->Inject(MakeFault(sim::FaultKind::kLoop));
  ASSERT_TRUE(WaitFor([&] { return sim_->stats().sessions_bound >= 1; }, kWait));
  sim_->Stop();  // the rebind target disappears
  const uint64_t before = client_->Status().reconnects;
  ASSERT_TRUE(WaitFor([&] { return client_->Status().reconnects >= before + 2; }, kWait));
  // Backoff of 100..400 ms: a handful of attempts per second, not thousands.
  const uint64_t start = client_->Status().reconnects;
  absl::SleepFor(absl::Seconds(1));  // observing a rate over time, not waiting for a condition
  EXPECT_LE(client_->Status().reconnects, start + 6);
  EXPECT_NE(client_->Status().state, CONNECTION_STATE_CONNECTED);
}

TEST_F(ClientSimulatorTest, GarbageIsCountedAndTheStreamContinues) {
  StartSimulator();
  StartClient(Options());
  ASSERT_TRUE(WaitConnectedWithUpdates(Items().size() + 50));
  const double unknown_sub =
      MetricValue("iss_ingest_tlcp_malformed_total", "reason=\"unknown_subscription\"");
  const double bad_args = MetricValue("iss_ingest_tlcp_malformed_total", "reason=\"bad_args\"");
  const double unknown = MetricValue("iss_ingest_tlcp_unknown_messages_total");
  sim_->Inject(MakeFault(sim::FaultKind::kGarbage, absl::ZeroDuration(), 6));
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricValue("iss_ingest_tlcp_malformed_total", "reason=\"unknown_subscription\"") >=
                   unknown_sub + 3 &&
               MetricValue("iss_ingest_tlcp_malformed_total", "reason=\"bad_args\"") >=
                   bad_args + 2 &&
               MetricValue("iss_ingest_tlcp_unknown_messages_total") >= unknown + 1;
      },
      kWait));
  const size_t now = sink_.size();
  ASSERT_TRUE(WaitFor([&] { return sink_.size() >= now + 100; }, kWait));
  EXPECT_EQ(client_->Status().reconnects, 0u);
  ExpectDeliveredEqualsSent();
}

TEST_F(ClientSimulatorTest, RefusedHandshakesOpenTheCircuit) {
  StartSimulator();
  ClientOptions o = Options();
  o.path = "/not-lightstreamer";  // the simulator answers 404
  StartClient(o);
  ASSERT_TRUE(
      WaitFor([&] { return client_->Status().state == CONNECTION_STATE_CIRCUIT_OPEN; }, kWait));
  EXPECT_GE(sim_->stats().rejected, 4u);
  EXPECT_GE(MetricValue("iss_ingest_reconnects_total", "cause=\"handshake\""), 4);
  EXPECT_GE(MetricValue("iss_ingest_circuit_open_total"), 1);
  // The circuit stays open: no attempt hammers the server meanwhile.
  const uint64_t rejected = sim_->stats().rejected;
  EXPECT_FALSE(WaitFor([&] { return sim_->stats().rejected > rejected; }, absl::Milliseconds(500)));
  EXPECT_EQ(sink_.size(), 0u);
}

TEST_F(ClientSimulatorTest, NoServerIsUnreachableWithTheReasonAndWhatToDo) {
  ClientOptions o = Options();
  o.port = 1;  // nothing listens on port 1
  StartClient(o);
  ASSERT_TRUE(WaitFor([&] { return client_->Status().reconnects >= 2; }, kWait));
  const ClientStatus st = client_->Status();
  EXPECT_TRUE(st.state == iss::ingest::v1::CONNECTION_STATE_UNREACHABLE ||
              st.state == CONNECTION_STATE_CIRCUIT_OPEN)
      << iss::ingest::v1::ConnectionState_Name(st.state);
  EXPECT_TRUE(absl::StartsWith(st.reason, "connect: ")) << st.reason;
  EXPECT_THAT(st.hint, ::testing::HasSubstr("ISS_PLATFORM_FEED=simulator"));
  iss::ingest::v1::IngestStatus described;
  DescribeStatus(st, &described);
  EXPECT_EQ(described.state_reason(), st.reason);
  EXPECT_TRUE(described.session_id().empty());
  client_->Stop();
  client_->Stop();  // idempotent
}

// One item the server does not serve must not cost the others: the refused
// request is split until the item stands alone, everything else streams, and
// the refusal is reported with the server's code and message.
TEST_F(ClientSimulatorTest, ARefusedItemIsIsolatedAndTheRestStream) {
  StartSimulator(Quiet(), 20, [](sim::SimulatorOptions& o) {
    o.refused_items = {{"NODE3000004", 21}};
  });
  StartClient(Options());
  const size_t items = Items().size();
  ASSERT_TRUE(WaitFor(
      [&] {
        const ClientStatus st = client_->Status();
        return Connected() && st.subscribed_items == items - 1 && st.refused_items.size() == 1;
      },
      kWait));
  const ClientStatus st = client_->Status();
  EXPECT_EQ(st.refused_items[0].item_id, "NODE3000004");
  EXPECT_EQ(st.refused_items[0].code, 21);
  EXPECT_EQ(st.refused_items[0].message, "Item not served, refused by the Metadata Adapter");
  EXPECT_EQ(MetricValue("iss_ingest_items_refused"), 1);
  // The tank, batched with the refused item at first, streams.
  ASSERT_TRUE(WaitFor(
      [&] {
        int rises = 0;
        for (const auto& u : sink_.updates()) rises += u.item_id == kUrineTankItem && !u.snapshot;
        return rises >= 2;
      },
      kWait));
  for (const auto& u : sink_.updates()) ASSERT_NE(u.item_id, "NODE3000004");
}

// CONOK's control link: after LOOP the session is rebound there.
TEST_F(ClientSimulatorTest, RebindsGoToTheControlLink) {
  StartSimulator(Quiet(), 20, [](sim::SimulatorOptions& o) { o.control_link = true; });
  StartClient(Options());
  ASSERT_TRUE(WaitConnectedWithUpdates(Items().size() + 50));
  const std::string link = absl::StrCat("127.0.0.1:", sim_->control_link_port());
  EXPECT_EQ(client_->Status().control_link, link);
  EXPECT_EQ(client_->Status().server, absl::StrCat("127.0.0.1:", sim_->port()));
  sim_->Inject(MakeFault(sim::FaultKind::kLoop));
  ASSERT_TRUE(WaitFor([&] { return sim_->stats().control_link_binds >= 1 && Connected(); }, kWait));
  EXPECT_EQ(client_->Status().server, link);
  EXPECT_EQ(sim_->stats().sessions_created, 1u);
  const size_t now = sink_.size();
  ASSERT_TRUE(WaitFor([&] { return sink_.size() >= now + 100; }, kWait));
  ExpectDeliveredEqualsSent();
}

// A permanent refusal (no such adapter set) is not retried in a tight loop:
// the source is REFUSED with the server's code and message, the next attempt
// waits refused_backoff, and the circuit breaker is not involved.
TEST_F(ClientSimulatorTest, APermanentRefusalIsToldAndWaitsLong) {
  StartSimulator(Quiet(), 20, [](sim::SimulatorOptions& o) { o.refuse_sessions_code = 2; });
  ClientOptions o = Options();
  o.refused_backoff = absl::Hours(1);
  const double circuits = MetricValue("iss_ingest_circuit_open_total");
  StartClient(o);
  ASSERT_TRUE(WaitFor(
      [&] { return client_->Status().state == iss::ingest::v1::CONNECTION_STATE_REFUSED; }, kWait));
  const ClientStatus st = client_->Status();
  EXPECT_EQ(st.refusal_code, 2);
  EXPECT_EQ(st.refusal_message, "Requested Adapter Set not available");
  EXPECT_GT(st.next_attempt_at, absl::Now() + absl::Minutes(59));
  EXPECT_THAT(st.hint, ::testing::HasSubstr("ISS_LS_ADAPTER_SET"));
  const uint64_t rejected = sim_->stats().rejected;
  EXPECT_FALSE(WaitFor([&] { return sim_->stats().rejected > rejected; }, absl::Milliseconds(500)));
  EXPECT_EQ(MetricValue("iss_ingest_circuit_open_total"), circuits);
}

// END 48 ("open a new session immediately") is followed by a new session at
// once; END 32 (closed on the server side) waits the backoff.
TEST_F(ClientSimulatorTest, ReopenNowCodesReconnectAtOnceOthersBackOff) {
  StartSimulator();
  ClientOptions o = Options();
  o.backoff_initial = absl::Seconds(3);  // far longer than a "reopen now"
  o.backoff_max = absl::Seconds(3);
  StartClient(o);
  ASSERT_TRUE(WaitConnectedWithUpdates(Items().size() + 50));
  for (int code : {48, 32}) {
    SCOPED_TRACE(code);
    const std::string before = client_->Status().session_id;
    sim::Fault end = MakeFault(sim::FaultKind::kEnd);
    end.code = code;
    const absl::Time injected = absl::Now();
    sim_->Inject(end);
    ASSERT_TRUE(WaitFor(
        [&] {
          const ClientStatus st = client_->Status();
          return Connected() && st.session_id != before && !st.session_id.empty();
        },
        kWait));
    const absl::Duration took = absl::Now() - injected;
    if (code == 48) {
      EXPECT_LT(took, absl::Seconds(1));
    } else {
      EXPECT_GE(took, absl::Milliseconds(1400));  // the backoff: initial/2 .. initial
    }
  }
}

// TLCP 2.2.0 stays selectable.
TEST_F(ClientSimulatorTest, Tlcp22StillWorks) {
  StartSimulator();
  ClientOptions o = Options();
  o.subprotocol = "TLCP-2.2.0.lightstreamer.com";
  StartClient(o);
  ASSERT_TRUE(WaitConnectedWithUpdates(Items().size() + 50));
  ExpectDeliveredEqualsSent();
}

TEST(ClientOptionsTest, BadOptionsAreRefused) {
  RecordingSink sink;
  ClientOptions o;
  o.items = {"TIME_000001"};
  o.port = 0;
  EXPECT_EQ(Client(o, &sink).Start().code(), absl::StatusCode::kInvalidArgument);
  o.port = 443;
  o.items = {};
  EXPECT_EQ(Client(o, &sink).Start().code(), absl::StatusCode::kInvalidArgument);
  o.items = {"BAD ITEM"};
  EXPECT_EQ(Client(o, &sink).Start().code(), absl::StatusCode::kInvalidArgument);
  o.items = {"TIME_000001"};
  o.items_per_request = 0;
  EXPECT_EQ(Client(o, &sink).Start().code(), absl::StatusCode::kInvalidArgument);
  o.items_per_request = 100;
  o.subprotocol = "not-tlcp";
  EXPECT_EQ(Client(o, &sink).Start().code(), absl::StatusCode::kInvalidArgument);
  o.subprotocol = "TLCP-2.5.0.lightstreamer.com";
  for (const char* bad : {"fast", "0", "-1", "", "1e3"}) {
    o.requested_max_frequency = bad;
    EXPECT_EQ(Client(o, &sink).Start().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace iss::tlcp
