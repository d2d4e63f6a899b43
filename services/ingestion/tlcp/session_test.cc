#include "services/ingestion/tlcp/session.h"

#include <map>
#include <random>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iss::tlcp {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;

class RecordingSink : public ingest::UpdateSink {
 public:
  bool Deliver(ingest::RawUpdate u) override {
    updates.push_back(std::move(u));
    return open;
  }
  std::vector<ingest::RawUpdate> updates;
  bool open = true;
};

class CountingEvents : public SessionEvents {
 public:
  void OnMessage(MessageType t) override { ++messages[std::string(MessageTypeName(t))]; }
  void OnMalformed(std::string_view reason, std::string_view) override {
    ++malformed[std::string(reason)];
  }
  void OnUnknown(std::string_view tag, std::string_view) override { ++unknown[std::string(tag)]; }
  void OnNotice(std::string_view what, std::string_view) override { ++notices[std::string(what)]; }
  std::map<std::string, int> messages, malformed, unknown, notices;
};

// Request parameters of one "name\r\nparams" request.
std::map<std::string, std::string> Params(const std::string& request, std::string* name) {
  std::vector<std::string> parts = absl::StrSplit(request, "\r\n");
  *name = parts[0];
  std::map<std::string, std::string> out;
  if (parts.size() > 1) {
    auto parsed = ParseParams(parts[1]);
    EXPECT_TRUE(parsed.ok());
    for (auto& [k, v] : *parsed) out[k] = v;
  }
  return out;
}

class SessionTest : public ::testing::Test {
 protected:
  SessionOptions Options(int per_request = 2) {
    SessionOptions o;
    o.cid = "test-cid";
    o.keepalive = absl::Milliseconds(1500);
    o.items = {"TIME_000001", "NODE3000005", "NODE3000004"};
    o.items_per_request = per_request;
    return o;
  }
  // Opens a new session and returns the control requests it sends.
  std::vector<std::string> Establish(Session& s) {
    s.Open();
    Session::Step step = s.OnLine("CONOK,Sabc,50000,1500,*", now_);
    EXPECT_EQ(step.kind, Session::Step::kContinue);
    return step.send;
  }
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
  RecordingSink sink_;
  CountingEvents events_;
};

TEST_F(SessionTest, OpenSendsWsokThenCreateSession) {
  Session s(Options(), &sink_, &events_);
  std::vector<std::string> out = s.Open();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], "wsok");
  std::string name;
  auto p = Params(out[1], &name);
  EXPECT_EQ(name, "create_session");
  EXPECT_EQ(p["LS_adapter_set"], "ISSLIVE");
  EXPECT_EQ(p["LS_cid"], "test-cid");
  EXPECT_EQ(p["LS_keepalive_millis"], "1500");
  EXPECT_EQ(p["LS_send_sync"], "true");
}

TEST_F(SessionTest, ConokSubscribesEverythingInBatches) {
  Session s(Options(/*per_request=*/2), &sink_, &events_);
  std::vector<std::string> controls = Establish(s);
  EXPECT_TRUE(s.established());
  EXPECT_EQ(s.session_id(), "Sabc");
  EXPECT_EQ(s.keepalive(), absl::Milliseconds(1500));
  ASSERT_EQ(controls.size(), 2u);
  std::string name;
  auto first = Params(controls[0], &name);
  EXPECT_EQ(name, "control");
  EXPECT_EQ(first["LS_op"], "add");
  EXPECT_EQ(first["LS_mode"], "MERGE");
  EXPECT_EQ(first["LS_group"], "TIME_000001 NODE3000005");
  EXPECT_EQ(first["LS_schema"],
            "Value TimeStamp Status.Class Status.Indicator Status.Color CalibratedData");
  EXPECT_EQ(first["LS_snapshot"], "true");
  auto second = Params(controls[1], &name);
  EXPECT_EQ(second["LS_group"], "NODE3000004");
  EXPECT_NE(first["LS_reqId"], second["LS_reqId"]);
  EXPECT_NE(first["LS_subId"], second["LS_subId"]);
  EXPECT_EQ(s.subscribed_items(), 0u);  // nothing confirmed yet
  s.OnLine(absl::StrCat("SUBOK,", first["LS_subId"], ",2,6"), now_);
  s.OnLine(absl::StrCat("SUBOK,", second["LS_subId"], ",1,6"), now_);
  EXPECT_EQ(s.subscribed_items(), 3u);
}

TEST_F(SessionTest, DuplicateItemsAreSubscribedOnce) {
  SessionOptions o = Options(100);
  o.items = {"TIME_000001", "NODE3000005", "TIME_000001"};
  Session s(o, &sink_, &events_);
  std::vector<std::string> controls = Establish(s);
  ASSERT_EQ(controls.size(), 1u);
  std::string name;
  EXPECT_EQ(Params(controls[0], &name)["LS_group"], "TIME_000001 NODE3000005");
}

TEST_F(SessionTest, RequestLimitSplitsBatches) {
  SessionOptions o = Options(/*per_request=*/100);
  // The size of one request with all three items...
  size_t all_in_one = 0;
  {
    Session probe(o, &sink_, &events_);
    probe.Open();
    Session::Step step = probe.OnLine("CONOK,S1,50000,1500,*", now_);
    ASSERT_EQ(step.send.size(), 1u);
    all_in_one = step.send[0].size();
  }
  // ...and a request limit just below it.
  const size_t kLimit = all_in_one - 1;
  Session s(o, &sink_, &events_);
  s.Open();
  Session::Step step = s.OnLine(absl::StrCat("CONOK,S1,", kLimit, ",1500,*"), now_);
  EXPECT_GT(step.send.size(), 1u);
  std::vector<std::string> items;
  for (const std::string& req : step.send) {
    std::string name;
    std::vector<std::string> group = absl::StrSplit(Params(req, &name)["LS_group"], ' ');
    if (group.size() > 1) {
      EXPECT_LE(req.size(), kLimit) << req;
    }
    items.insert(items.end(), group.begin(), group.end());
  }
  EXPECT_EQ(items, o.items);
}

TEST_F(SessionTest, UpdatesAreDecodedAgainstPerItemState) {
  Session s(Options(/*per_request=*/100), &sink_, &events_);
  Establish(s);
  s.OnLine("SUBOK,1,3,6", now_);
  s.OnLine("U,1,2,42|4224.5|24|$|#|", now_);
  s.OnLine("EOS,1,2", now_);
  s.OnLine("U,1,2,43|4224.6|^4", now_ + absl::Seconds(1));
  ASSERT_EQ(sink_.updates.size(), 2u);
  const ingest::RawUpdate& a = sink_.updates[0];
  EXPECT_EQ(a.item_id, "NODE3000005");
  EXPECT_THAT(a.value, Optional(std::string("42")));
  EXPECT_THAT(a.timestamp, Optional(std::string("4224.5")));
  EXPECT_THAT(a.status_class, Optional(std::string("24")));
  EXPECT_THAT(a.status_indicator, Optional(std::string()));
  EXPECT_EQ(a.status_color, std::nullopt);
  EXPECT_EQ(a.calibrated_data, std::nullopt);  // never sent: unknown
  EXPECT_TRUE(a.snapshot);
  EXPECT_EQ(a.raw, "U,1,2,42|4224.5|24|$|#|");
  const ingest::RawUpdate& b = sink_.updates[1];
  EXPECT_THAT(b.value, Optional(std::string("43")));
  EXPECT_THAT(b.timestamp, Optional(std::string("4224.6")));
  EXPECT_THAT(b.status_class, Optional(std::string("24")));  // kept from before
  EXPECT_FALSE(b.snapshot);
  EXPECT_EQ(b.received_at, now_ + absl::Seconds(1));
}

TEST_F(SessionTest, MergeSnapshotIsTheFirstUpdateWithoutEos) {
  Session s(Options(100), &sink_, &events_);
  Establish(s);
  s.OnLine("U,1,1,a|b|c|d|e|f", now_);
  s.OnLine("U,1,2,a|b|c|d|e|f", now_);
  s.OnLine("U,1,1,x|^5", now_);
  s.OnLine("EOS,1,2", now_);  // tolerated, changes nothing
  s.OnLine("U,1,2,y|^5", now_);
  ASSERT_EQ(sink_.updates.size(), 4u);
  EXPECT_TRUE(sink_.updates[0].snapshot);
  EXPECT_TRUE(sink_.updates[1].snapshot);
  EXPECT_FALSE(sink_.updates[2].snapshot);
  EXPECT_FALSE(sink_.updates[3].snapshot);
}

TEST_F(SessionTest, FieldOrderFollowsTheConfiguredSchema) {
  SessionOptions o = Options(100);
  o.fields = {"TimeStamp", "Value"};
  Session s(o, &sink_, &events_);
  Establish(s);
  s.OnLine("U,1,1,4224.5|7", now_);
  ASSERT_EQ(sink_.updates.size(), 1u);
  EXPECT_THAT(sink_.updates[0].value, Optional(std::string("7")));
  EXPECT_THAT(sink_.updates[0].timestamp, Optional(std::string("4224.5")));
}

TEST_F(SessionTest, MalformedUpdateOfAKnownItemReachesTheSinkRaw) {
  Session s(Options(100), &sink_, &events_);
  Establish(s);
  s.OnLine("U,1,1,1|2|3|4|5|6", now_);
  s.OnLine("U,1,1,^7", now_);  // beyond the field count
  ASSERT_EQ(sink_.updates.size(), 2u);
  EXPECT_EQ(sink_.updates[1].item_id, "TIME_000001");
  EXPECT_EQ(sink_.updates[1].value, std::nullopt);
  EXPECT_EQ(sink_.updates[1].raw, "U,1,1,^7");
  EXPECT_EQ(events_.malformed["bad_skip"], 1);
  // State survived: the next compact update still decodes against it.
  s.OnLine("U,1,1,^5|x", now_);
  EXPECT_THAT(sink_.updates[2].value, Optional(std::string("1")));
  EXPECT_THAT(sink_.updates[2].calibrated_data, Optional(std::string("x")));
}

TEST_F(SessionTest, UnattributableLinesAreOnlyCounted) {
  Session s(Options(100), &sink_, &events_);
  Establish(s);
  s.OnLine("U,9,1,a|b|c|d|e|f", now_);  // unknown subscription
  s.OnLine("U,1,4,a|b|c|d|e|f", now_);  // item index out of range (3 items)
  s.OnLine("U,1,0,a|b|c|d|e|f", now_);  // items are 1-based
  s.OnLine("U,x,1,a|b|c|d|e|f", now_);
  s.OnLine("U,1,2", now_);  // truncated
  s.OnLine("EOS,1,7", now_);
  EXPECT_TRUE(sink_.updates.empty());
  EXPECT_EQ(events_.malformed["unknown_subscription"], 2);
  EXPECT_EQ(events_.malformed["bad_item_index"], 3);
  EXPECT_EQ(events_.malformed["bad_args"], 1);
}

TEST_F(SessionTest, UnknownMessagesAreCountedNotFatal) {
  Session s(Options(100), &sink_, &events_);
  Establish(s);
  Session::Step step = s.OnLine("FUTUREMSG,1,2", now_);
  EXPECT_EQ(step.kind, Session::Step::kContinue);
  EXPECT_EQ(events_.unknown["FUTUREMSG"], 1);
  s.OnLine("U,1,1,a|b|c|d|e|f", now_);
  EXPECT_EQ(sink_.updates.size(), 1u);
}

TEST_F(SessionTest, InformationalMessagesAreCounted) {
  Session s(Options(100), &sink_, &events_);
  Establish(s);
  for (const char* line :
       {"SERVNAME,Lightstreamer HTTP Server", "CLIENTIP,127.0.0.1", "CONS,unlimited", "REQOK,1",
        "CONF,1,unlimited,filtered", "PROBE", "SYNC,12", "NOOP,hi", "PROG,10", "MSGDONE,*,1",
        "WSOK", "OV,1,1,3", "CS,1,1", "MSGFAIL,*,1,34,oops"}) {
    EXPECT_EQ(s.OnLine(line, now_).kind, Session::Step::kContinue) << line;
  }
  EXPECT_EQ(s.server_name(), "Lightstreamer HTTP Server");
  EXPECT_EQ(events_.messages["PROBE"], 1);
  EXPECT_EQ(events_.notices["overflow"], 1);
  EXPECT_TRUE(events_.malformed.empty());
}

TEST_F(SessionTest, EndConerrErrorAskForANewSession) {
  for (const char* line : {"END,41,closed", "CONERR,2,bad adapter set", "ERROR,11,oops"}) {
    Session s(Options(100), &sink_, &events_);
    Establish(s);
    Session::Step step = s.OnLine(line, now_);
    EXPECT_EQ(step.kind, Session::Step::kReconnect) << line;
    s.OnDisconnected();
    EXPECT_FALSE(s.rebinding());
    std::vector<std::string> reopen = s.Open();
    EXPECT_THAT(reopen[1], HasSubstr("create_session")) << line;
  }
}

TEST_F(SessionTest, LoopRebindsAndKeepsSubscriptions) {
  Session s(Options(100), &sink_, &events_);
  Establish(s);
  s.OnLine("SUBOK,1,3,6", now_);
  s.OnLine("U,1,2,42|4224.5|24|$|#|", now_);
  Session::Step step = s.OnLine("LOOP,0", now_);
  EXPECT_EQ(step.kind, Session::Step::kReconnect);
  s.OnDisconnected();
  std::vector<std::string> reopen = s.Open();
  std::string name;
  auto p = Params(reopen[1], &name);
  EXPECT_EQ(name, "bind_session");
  EXPECT_EQ(p["LS_session"], "Sabc");
  step = s.OnLine("CONOK,Sabc,50000,1500,*", now_);
  EXPECT_TRUE(step.send.empty());  // no resubscription after a rebind
  EXPECT_EQ(s.subscribed_items(), 3u);
  s.OnLine("U,1,2,43|^5", now_);
  EXPECT_THAT(sink_.updates.back().timestamp, Optional(std::string("4224.5")));
}

TEST_F(SessionTest, NewSessionAfterDropResubscribesAndResetsState) {
  Session s(Options(100), &sink_, &events_);
  Establish(s);
  s.OnLine("U,1,2,42|4224.5|24|$|#|", now_);
  s.OnDisconnected();
  s.Open();
  Session::Step step = s.OnLine("CONOK,Snew,50000,1500,*", now_);
  ASSERT_EQ(step.send.size(), 1u);
  std::string name;
  auto p = Params(step.send[0], &name);
  // Fresh state: a compact update now leaves unsent fields null.
  s.OnLine(absl::StrCat("U,", p["LS_subId"], ",2,44|^5"), now_);
  EXPECT_THAT(sink_.updates.back().value, Optional(std::string("44")));
  EXPECT_EQ(sink_.updates.back().timestamp, std::nullopt);
  EXPECT_TRUE(sink_.updates.back().snapshot);
}

TEST_F(SessionTest, ReqerrOfAOneItemRequestMarksTheItemRefused) {
  Session s(Options(2), &sink_, &events_);
  std::vector<std::string> controls = Establish(s);
  std::string name;
  auto p = Params(controls[1], &name);
  s.OnLine("SUBOK,1,2,6", now_);
  Session::Step step =
      s.OnLine(absl::StrCat("REQERR,", p["LS_reqId"], ",21,Bad Group name%2C refused"), now_);
  EXPECT_EQ(step.kind, Session::Step::kContinue);
  EXPECT_TRUE(step.send.empty());
  EXPECT_EQ(s.subscribed_items(), 2u);
  ASSERT_EQ(s.refused_items().size(), 1u);
  const RefusedItem r = s.refused_items()[0];
  EXPECT_EQ(r.item_id, "NODE3000004");
  EXPECT_EQ(r.code, 21);
  EXPECT_EQ(r.message, "Bad Group name, refused");  // percent-decoded
  EXPECT_EQ(r.since, now_);
  EXPECT_EQ(r.retry_at, now_ + absl::Hours(1));
  EXPECT_EQ(events_.notices["item_refused"], 1);
}

// A stand-in for the server: answers every add request in `sends` with
// REQERR when its group holds a refused item, else SUBOK. Returns how many
// requests it answered.
int Serve(Session& s, std::vector<std::string> sends, const std::set<std::string>& refused,
          absl::Time now, int code = 21) {
  int answered = 0;
  while (!sends.empty()) {
    std::vector<std::string> next;
    for (const std::string& req : sends) {
      std::string name;
      auto p = Params(req, &name);
      std::vector<std::string> group = absl::StrSplit(p["LS_group"], ' ');
      const bool bad = std::any_of(group.begin(), group.end(),
                                   [&](const std::string& i) { return refused.contains(i); });
      ++answered;
      Session::Step step =
          s.OnLine(bad ? absl::StrCat("REQERR,", p["LS_reqId"], ",", code, ",Not served")
                       : absl::StrCat("SUBOK,", p["LS_subId"], ",", group.size(), ",6"),
                   now);
      for (std::string& r : step.send) next.push_back(std::move(r));
    }
    sends = std::move(next);
  }
  return answered;
}

// One refused item must never cost the others their subscription: the
// refused batch is split in halves until the refused ids stand alone.
TEST_F(SessionTest, ARefusedBatchIsBisectedUntilOnlyTheRefusedItemsAreLeftOut) {
  SessionOptions o = Options(100);
  o.items.clear();
  for (int i = 0; i < 64; ++i) o.items.push_back(absl::StrCat("ITEM", 100 + i));
  Session s(o, &sink_, &events_);
  const std::set<std::string> refused = {"ITEM117", "ITEM150"};
  const int requests = Serve(s, Establish(s), refused, now_);
  EXPECT_EQ(s.subscribed_items(), 62u);
  std::vector<std::string> ids;
  for (const RefusedItem& r : s.refused_items()) ids.push_back(r.item_id);
  EXPECT_THAT(ids, ElementsAre("ITEM117", "ITEM150"));
  EXPECT_LE(requests, 1 + 2 * 2 * 6);             // about 2 log2(64) per refused item
  EXPECT_EQ(events_.notices["item_refused"], 2);  // logged once each
}

// Codes about the request as a whole (here 23, a bad field schema) would
// refuse every half: the whole batch is marked refused without splitting.
TEST_F(SessionTest, WholeRequestCodesAreNotBisected) {
  Session s(Options(100), &sink_, &events_);
  const int requests = Serve(s, Establish(s), {"TIME_000001"}, now_, /*code=*/23);
  EXPECT_EQ(requests, 1);
  EXPECT_EQ(s.refused_items().size(), 3u);
}

TEST_F(SessionTest, RefusedItemsAreAskedForAgainRarelyAndClearedOnceAccepted) {
  SessionOptions o = Options(100);
  o.refused_retry = absl::Minutes(30);
  Session s(o, &sink_, &events_);
  Serve(s, Establish(s), {"NODE3000004"}, now_);
  ASSERT_EQ(s.refused_items().size(), 1u);
  EXPECT_TRUE(s.Tick(now_ + absl::Minutes(29)).send.empty());
  // Refused again at its retry: one request, no second log line.
  Session::Step retry = s.Tick(now_ + absl::Minutes(30));
  ASSERT_EQ(retry.send.size(), 1u);
  std::string name;
  EXPECT_EQ(Params(retry.send[0], &name)["LS_group"], "NODE3000004");
  Serve(s, retry.send, {"NODE3000004"}, now_ + absl::Minutes(30));
  ASSERT_EQ(s.refused_items().size(), 1u);
  EXPECT_EQ(s.refused_items()[0].retry_at, now_ + absl::Minutes(60));
  EXPECT_EQ(s.refused_items()[0].since, now_);
  EXPECT_EQ(events_.notices["item_refused"], 1);
  // A new session does not ask for it before its time ...
  s.OnDisconnected();
  s.Open();
  Session::Step fresh = s.OnLine("CONOK,S2,50000,1500,*", now_ + absl::Minutes(40));
  ASSERT_EQ(fresh.send.size(), 1u);
  EXPECT_EQ(Params(fresh.send[0], &name)["LS_group"], "TIME_000001 NODE3000005");
  Serve(s, fresh.send, {}, now_ + absl::Minutes(40));
  // ... and once the feed serves it again, it is subscribed and not refused.
  Session::Step again = s.Tick(now_ + absl::Minutes(61));
  ASSERT_EQ(again.send.size(), 1u);
  Serve(s, again.send, {}, now_ + absl::Minutes(61));
  EXPECT_TRUE(s.refused_items().empty());
  EXPECT_EQ(s.subscribed_items(), 3u);
}

TEST_F(SessionTest, ReqerrSessionNotFoundOpensANewSessionAtOnce) {
  Session s(Options(100), &sink_, &events_);
  std::vector<std::string> controls = Establish(s);
  std::string name;
  auto p = Params(controls[0], &name);
  Session::Step step =
      s.OnLine(absl::StrCat("REQERR,", p["LS_reqId"], ",20,Session not found"), now_);
  EXPECT_EQ(step.kind, Session::Step::kReconnect);
  EXPECT_EQ(step.retry, Retry::kNow);
  EXPECT_EQ(step.code, 20);
  EXPECT_TRUE(s.refused_items().empty());
}

TEST_F(SessionTest, SubscriptionsAskForUnlimitedFrequencyAndRecordTheGrant) {
  Session s(Options(2), &sink_, &events_);
  std::vector<std::string> controls = Establish(s);
  std::string name;
  auto first = Params(controls[0], &name);
  auto second = Params(controls[1], &name);
  EXPECT_EQ(first["LS_requested_max_frequency"], "unlimited");
  EXPECT_EQ(second["LS_requested_max_frequency"], "unlimited");
  s.OnLine(absl::StrCat("SUBOK,", first["LS_subId"], ",2,6"), now_);
  s.OnLine(absl::StrCat("CONF,", first["LS_subId"], ",unlimited,filtered"), now_);
  s.OnLine(absl::StrCat("SUBOK,", second["LS_subId"], ",1,6"), now_);
  s.OnLine(absl::StrCat("CONF,", second["LS_subId"], ",0.5,filtered"), now_);
  std::vector<FrequencyGrant> grants = s.frequency_grants();
  ASSERT_EQ(grants.size(), 2u);
  EXPECT_EQ(grants[0].max_frequency, "unlimited");
  EXPECT_EQ(grants[0].items, 2u);
  EXPECT_EQ(grants[1].max_frequency, "0.5");
  EXPECT_EQ(grants[1].items, 1u);
  EXPECT_TRUE(grants[1].filtered);
}

// TLCP >= 2.4 may send values as diffs unless the client lists the formats
// it takes: ours lists none (an empty LS_supported_diffs), and 2.2 has no
// such parameter.
TEST_F(SessionTest, CreateSessionRefusesDiffFormatsFromTlcp24On) {
  for (const char* version : {"2.5.0", "2.4.0"}) {
    SessionOptions o = Options();
    o.protocol_version = version;
    std::string name;
    auto p = Params(CreateSessionRequest(o), &name);
    ASSERT_TRUE(p.count("LS_supported_diffs")) << version;
    EXPECT_EQ(p["LS_supported_diffs"], "") << version;
  }
  SessionOptions old = Options();
  old.protocol_version = "2.2.0";
  std::string name;
  EXPECT_FALSE(Params(CreateSessionRequest(old), &name).count("LS_supported_diffs"));
}

TEST_F(SessionTest, ControlLinkAndServerNameAreDecoded) {
  Session s(Options(100), &sink_, &events_);
  s.Open();
  s.OnLine("CONOK,S1,50000,1500,push2.example.com%3A8443", now_);
  EXPECT_EQ(s.control_link(), "push2.example.com:8443");
  s.OnLine("SERVNAME,Lightstreamer%2C HTTP Server", now_);
  EXPECT_EQ(s.server_name(), "Lightstreamer, HTTP Server");
  s.OnLine("LOOP,0", now_);
  s.OnDisconnected();
  s.Open();
  s.OnLine("CONOK,S1,50000,1500,*", now_);
  EXPECT_EQ(s.control_link(), "");
}

// SYNC: seconds since the server bound the session to this connection.
TEST_F(SessionTest, SyncMeasuresHowFarBehindTheStreamIsRead) {
  Session s(Options(100), &sink_, &events_);
  Establish(s);  // bound at now_
  s.OnLine("SYNC,10", now_ + absl::Seconds(12));
  EXPECT_EQ(s.sync_lag(), absl::Seconds(2));
  s.OnLine("SYNC,20", now_ + absl::Seconds(20));
  EXPECT_EQ(s.sync_lag(), absl::ZeroDuration());
  // A rebind restarts the count.
  s.OnLine("LOOP,0", now_ + absl::Seconds(30));
  s.OnDisconnected();
  s.Open();
  s.OnLine("CONOK,Sabc,50000,1500,*", now_ + absl::Seconds(40));
  s.OnLine("SYNC,3", now_ + absl::Seconds(45));
  EXPECT_EQ(s.sync_lag(), absl::Seconds(2));
}

// What the server says decides how soon to come back (TLCP Appendix A and
// what Lightstreamer's own clients do).
TEST(SessionCodeRetry, TheDocumentedTable) {
  for (int code : {4, 20, 40, 41, 48}) EXPECT_EQ(SessionCodeRetry(code, true), Retry::kNow) << code;
  for (int code : {1, 2, 3, 11, 60, 65, 67, 69, 70, 71}) {
    EXPECT_EQ(SessionCodeRetry(code, false), Retry::kRefused) << code;
  }
  for (int code : {5, 6, 7, 8, 9, 10, 21, 31, 32, 33, 34, 35, 66, 68, 99}) {
    EXPECT_EQ(SessionCodeRetry(code, false), Retry::kBackoff) << code;
  }
  EXPECT_EQ(SessionCodeRetry(-3, false), Retry::kRefused);  // the Metadata Adapter refuses
  EXPECT_EQ(SessionCodeRetry(-3, true), Retry::kBackoff);   // an administrator closed it
}

TEST_F(SessionTest, EndAndConerrCarryTheirCodeAndDecodedMessage) {
  struct Case {
    const char* line;
    Retry retry;
    int64_t code;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"END,48,Maximum session duration reached", Retry::kNow, 48,
            "Maximum session duration reached"},
           {"END,32", Retry::kBackoff, 32, ""},
           {"CONERR,2,Requested Adapter Set not available", Retry::kRefused, 2,
            "Requested Adapter Set not available"},
           {"CONERR,5,Server busy%2C retry later", Retry::kBackoff, 5, "Server busy, retry later"},
           {"ERROR,67,Malformed request", Retry::kRefused, 67, "Malformed request"}}) {
    Session s(Options(100), &sink_, &events_);
    Establish(s);
    Session::Step step = s.OnLine(c.line, now_);
    EXPECT_EQ(step.kind, Session::Step::kReconnect) << c.line;
    EXPECT_EQ(step.retry, c.retry) << c.line;
    EXPECT_EQ(step.code, c.code) << c.line;
    EXPECT_EQ(step.message, c.message) << c.line;
  }
}

// The stall watchdog waits keep-alive + margin: a server must not be able to
// turn it off by granting an enormous keep-alive.
TEST_F(SessionTest, HugeServerKeepaliveIsClamped) {
  Session s(Options(100), &sink_, &events_);
  s.Open();
  EXPECT_EQ(s.OnLine("CONOK,S1,50000,9223372036854775807,*", now_).kind, Session::Step::kContinue);
  EXPECT_EQ(s.keepalive(), absl::Seconds(60));
  EXPECT_EQ(events_.notices["keepalive_clamped"], 1);

  SessionOptions o = Options(100);
  o.max_keepalive = absl::Seconds(2);
  Session capped(o, &sink_, &events_);
  capped.Open();
  capped.OnLine("CONOK,S2,50000,3600000,*", now_);
  EXPECT_EQ(capped.keepalive(), absl::Seconds(2));
  // Below the cap, the server's grant stands.
  Session normal(o, &sink_, &events_);
  normal.Open();
  normal.OnLine("CONOK,S3,50000,1800,*", now_);
  EXPECT_EQ(normal.keepalive(), absl::Milliseconds(1800));
  // What we asked for is never clamped below.
  o.keepalive = absl::Seconds(5);
  Session asked(o, &sink_, &events_);
  asked.Open();
  asked.OnLine("CONOK,S4,50000,9000,*", now_);
  EXPECT_EQ(asked.keepalive(), absl::Seconds(5));
}

TEST_F(SessionTest, MalformedConokReconnects) {
  Session s(Options(100), &sink_, &events_);
  s.Open();
  EXPECT_EQ(s.OnLine("CONOK,S1,abc,1500,*", now_).kind, Session::Step::kReconnect);
  EXPECT_EQ(events_.malformed["bad_conok"], 1);
}

TEST_F(SessionTest, RandomGarbageNeverBreaksTheSession) {
  Session s(Options(100), &sink_, &events_);
  Establish(s);
  s.OnLine("U,1,1,a|b|c|d|e|f", now_);
  std::mt19937 rng(1234);
  const std::string alphabet = "U,1230|#$^%AFZ\xC3\xA9\xFF,,||^^%%";
  // (UNSUB and REQERR are left out: well-formed ones legitimately end subscription 1.)
  const std::vector<std::string> heads = {"U,1,",  "U,1,1,", "U,",    "EOS,1,", "SUBOK,1,", "CS,1,",
                                          "OV,1,", "CONF,",  "PROBE", "SYNC,",  ""};
  for (int i = 0; i < 50000; ++i) {
    std::string line = heads[rng() % heads.size()];
    const size_t n = rng() % 24;
    for (size_t k = 0; k < n; ++k) line.push_back(alphabet[rng() % alphabet.size()]);
    Session::Step step = s.OnLine(line, now_);
    ASSERT_NE(step.kind, Session::Step::kStop) << line;
  }
  // Whatever happened, the session is intact: a well-formed update decodes.
  EXPECT_TRUE(s.established());
  s.OnLine("U,1,3,x|y|z|w|v|u", now_);
  EXPECT_EQ(sink_.updates.back().item_id, "NODE3000004");
  EXPECT_THAT(sink_.updates.back().value, Optional(std::string("x")));
  EXPECT_THAT(sink_.updates.back().calibrated_data, Optional(std::string("u")));
  EXPECT_FALSE(events_.malformed.empty());
}

TEST_F(SessionTest, ClosedSinkStops) {
  Session s(Options(100), &sink_, &events_);
  Establish(s);
  sink_.open = false;
  EXPECT_EQ(s.OnLine("U,1,1,a|b|c|d|e|f", now_).kind, Session::Step::kStop);
}

}  // namespace
}  // namespace iss::tlcp
