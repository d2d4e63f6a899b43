#include "services/ingestion/pipeline.h"

#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/grpc_util.h"
#include "common/isslive_time.h"
#include "common/metrics.h"
#include "common/utf8.h"
#include "gtest/gtest.h"
#include "iss/telemetry/v1/telemetry.pb.h"
#include "tests/support/wait.h"

namespace iss::ingest {
namespace {

using iss::telemetry::v1::DeadLetter;
using iss::telemetry::v1::TelemetryEvent;

const absl::Time kNow = absl::FromUnixSeconds(1782345653);

// A sample's value in the process registry ("name{labels}"), 0 if absent.
double Metric(const std::string& key) {
  for (absl::string_view line : absl::StrSplit(iss::metrics::Serialize(), '\n')) {
    if (absl::StartsWith(line, key) && line.size() > key.size() && line[key.size()] == ' ') {
      double v = 0;
      if (absl::SimpleAtod(line.substr(key.size() + 1), &v)) return v;
    }
  }
  return 0;
}

RawUpdate Update(std::string item, std::optional<std::string> value, absl::Time ts,
                 std::optional<std::string> status_class = "24") {
  RawUpdate u;
  u.item_id = std::move(item);
  u.value = std::move(value);
  u.timestamp = absl::StrFormat("%.10f", TimeToIssHours(ts));
  u.status_class = std::move(status_class);
  u.received_at = ts + absl::Milliseconds(300);
  u.raw = "U,1,1," + u.value.value_or("#");
  return u;
}

std::vector<Envelope> Drain(BoundedQueue& q) {
  std::vector<Envelope> out;
  q.PopBatch(&out, 1000, absl::ZeroDuration());
  return out;
}

TEST(Pipeline, ValidUpdateBecomesAKeyedEvent) {
  BoundedQueue q(10);
  SignalTracker signal;
  Pipeline p(&q, &signal);
  ASSERT_TRUE(p.Deliver(Update("NODE3000005", "42", kNow)));
  auto out = Drain(q);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Envelope::Kind::kEvent);
  EXPECT_EQ(out[0].key, "NODE3000005");
  TelemetryEvent e;
  ASSERT_TRUE(e.ParseFromString(out[0].value));
  EXPECT_EQ(e.item_id(), "NODE3000005");
  EXPECT_EQ(e.value(), "42");
  EXPECT_EQ(e.source(), "isslive");
  EXPECT_EQ(e.event_id().size(), 64u);
  // Received (by the source) at kNow + 300 ms; ingested now, years later.
  EXPECT_EQ(iss::FromProto(e.received_ts()), kNow + absl::Milliseconds(300));
  EXPECT_GT(iss::FromProto(e.ingest_ts()), iss::FromProto(e.received_ts()));
  auto c = p.counters();
  EXPECT_EQ(c.updates_received, 1u);
  EXPECT_EQ(c.events_enqueued, 1u);
  EXPECT_EQ(c.events_invalid, 0u);
}

TEST(Pipeline, InvalidUpdateBecomesADeadLetterWithReasonAndRaw) {
  BoundedQueue q(10);
  SignalTracker signal;
  Pipeline p(&q, &signal);
  RawUpdate bad = Update("NODE3000005", "42", kNow);
  bad.timestamp = "yesterday";
  bad.raw = "U,1,3,42|yesterday";
  ASSERT_TRUE(p.Deliver(bad));
  RawUpdate bad_id = Update("lower", "1", kNow);
  bad_id.raw.clear();  // no protocol line: the update itself is shown as JSON
  ASSERT_TRUE(p.Deliver(bad_id));
  auto out = Drain(q);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].kind, Envelope::Kind::kDeadLetter);
  EXPECT_EQ(out[0].key, "NODE3000005");
  DeadLetter dl;
  ASSERT_TRUE(dl.ParseFromString(out[0].value));
  EXPECT_EQ(dl.reason(), "bad_timestamp");
  EXPECT_NE(dl.detail().find("timestamp"), std::string::npos);
  EXPECT_EQ(dl.raw(), "U,1,3,42|yesterday");
  EXPECT_EQ(dl.component(), "ingestion");
  EXPECT_EQ(dl.item_id(), "NODE3000005");
  EXPECT_TRUE(dl.has_failed_at());
  kafka::Headers want = {{"iss.dlq.reason", "bad_timestamp"},
                         {"iss.dlq.component", "ingestion"},
                         {"iss.dlq.source", "isslive"}};
  EXPECT_EQ(out[0].headers, want);

  ASSERT_TRUE(dl.ParseFromString(out[1].value));
  EXPECT_EQ(dl.reason(), "bad_item_id");
  EXPECT_EQ(out[1].key, "");  // a bad id is not used as a key
  EXPECT_NE(dl.raw().find("\"item_id\":\"lower\""), std::string::npos);
  EXPECT_EQ(p.counters().events_invalid, 2u);
  EXPECT_EQ(p.counters().events_enqueued, 0u);
}

// A feed update whose time storage would refuse (common/event_rules.h) is
// dead-lettered here, counted, and never published as an event.
TEST(Pipeline, FeedTimeStorageWouldRefuseIsADeadLetterHere) {
  BoundedQueue q(10);
  SignalTracker signal;
  Pipeline p(&q, &signal);
  const double before = Metric("iss_ingest_invalid_total{reason=\"bad_timestamp\"}");
  // Stamped (and received, so the year fits) three days after this clock.
  ASSERT_TRUE(p.Deliver(Update("NODE3000005", "42", absl::Now() + absl::Hours(72))));
  // The same update an hour ahead is fine.
  ASSERT_TRUE(p.Deliver(Update("NODE3000005", "43", absl::Now() + absl::Hours(1))));
  auto out = Drain(q);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].kind, Envelope::Kind::kDeadLetter);
  DeadLetter dl;
  ASSERT_TRUE(dl.ParseFromString(out[0].value));
  EXPECT_EQ(dl.reason(), "bad_timestamp");
  EXPECT_NE(dl.detail().find("timestamp (TimeStamp)"), std::string::npos) << dl.detail();
  EXPECT_NE(dl.detail().find("ahead"), std::string::npos) << dl.detail();
  EXPECT_EQ(dl.raw(), "U,1,1,42");
  EXPECT_EQ(out[1].kind, Envelope::Kind::kEvent);
  EXPECT_EQ(p.counters().events_invalid, 1u);
  EXPECT_EQ(p.counters().events_enqueued, 1u);
  EXPECT_EQ(Metric("iss_ingest_invalid_total{reason=\"bad_timestamp\"}"), before + 1);
}

TEST(Pipeline, TimeItemDrivesTheSignalTheEventsCarry) {
  BoundedQueue q(10);
  SignalTracker signal;
  Pipeline p(&q, &signal);
  ASSERT_TRUE(p.Deliver(Update("TIME_000001", std::nullopt, kNow, "24")));
  ASSERT_TRUE(p.Deliver(Update("NODE3000005", "42", kNow)));
  ASSERT_TRUE(p.Deliver(Update("TIME_000001", "x", kNow + absl::Seconds(1), "0")));
  ASSERT_TRUE(p.Deliver(Update("NODE3000005", "43", kNow + absl::Seconds(1))));
  auto out = Drain(q);
  ASSERT_EQ(out.size(), 4u);
  std::vector<iss::telemetry::v1::SignalState> got;
  for (auto& env : out) {
    TelemetryEvent e;
    ASSERT_TRUE(e.ParseFromString(env.value));
    got.push_back(e.signal());
  }
  using namespace iss::telemetry::v1;
  EXPECT_EQ(got, (std::vector<SignalState>{SIGNAL_STATE_AOS, SIGNAL_STATE_AOS, SIGNAL_STATE_LOS,
                                           SIGNAL_STATE_LOS}));
}

TEST(Pipeline, TestIngestIsRefusedWhenFullAndNothingIsLost) {
  BoundedQueue q(2);
  SignalTracker signal;
  Pipeline p(&q, &signal);
  ValidatedUpdate c;
  c.item_id = "USLAB000061";
  c.value = "1";
  c.source = "test-ingest";
  auto a = p.IngestTyped(c, kNow);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->size(), 64u);
  c.value = "2";
  ASSERT_TRUE(p.IngestTyped(c, kNow).ok());
  c.value = "3";
  auto full = p.IngestTyped(c, kNow);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  auto out = Drain(q);
  ASSERT_EQ(out.size(), 2u);
  TelemetryEvent e;
  ASSERT_TRUE(e.ParseFromString(out[0].value));
  EXPECT_EQ(e.event_id(), *a);
  EXPECT_EQ(e.source(), "test-ingest");
  EXPECT_EQ(p.counters().events_enqueued, 2u);  // the refused one is not counted
  c.item_id = "bad id";
  auto bad = p.IngestTyped(c, kNow);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Drain(q).empty());  // the caller got the error; no dead letter
}

TEST(Pipeline, FullQueuePausesTheSourceUntilThereIsRoom) {
  BoundedQueue q(1);
  SignalTracker signal;
  Pipeline p(&q, &signal);
  ASSERT_TRUE(p.Deliver(Update("NODE3000005", "1", kNow)));
  std::atomic<bool> delivered{false};
  std::thread source([&] {
    EXPECT_TRUE(p.Deliver(Update("NODE3000005", "2", kNow + absl::Seconds(5))));
    delivered = true;
  });
  ASSERT_TRUE(iss::testing::WaitFor([&] { return q.blocked_pushes() == 1; }));
  EXPECT_FALSE(delivered.load());
  auto first = Drain(q);
  ASSERT_TRUE(iss::testing::WaitFor([&] { return delivered.load(); }));
  source.join();
  auto second = Drain(q);
  ASSERT_EQ(first.size() + second.size(), 2u);
  q.Close();
  EXPECT_FALSE(p.Deliver(Update("NODE3000005", "3", kNow)));  // tells the source to stop
}

TEST(Pipeline, ItemsReportsLastUpdates) {
  BoundedQueue q(10);
  SignalTracker signal;
  Pipeline p(&q, &signal);
  ASSERT_TRUE(p.Deliver(Update("NODE3000005", "41", kNow)));
  ASSERT_TRUE(p.Deliver(Update("NODE3000005", "42", kNow + absl::Seconds(5))));
  ASSERT_TRUE(p.Deliver(Update("NODE3000004", "32", kNow)));
  auto one = p.Items({"NODE3000005", "UNKNOWN"});
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].last_value, "42");
  EXPECT_EQ(one[0].updates, 2u);
  EXPECT_EQ(one[0].last_received_at, kNow + absl::Seconds(5) + absl::Milliseconds(300));
  auto all = p.Items({"*"});
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].item_id, "NODE3000004");
  EXPECT_TRUE(p.Items({}).empty());
}

TEST(Pipeline, UndecodableInputIsDeadLettered) {
  BoundedQueue q(10);
  SignalTracker signal;
  Pipeline p(&q, &signal);
  ASSERT_TRUE(p.RejectUndecodable("not valid JSON", "{oops", "replay"));
  auto out = Drain(q);
  ASSERT_EQ(out.size(), 1u);
  DeadLetter dl;
  ASSERT_TRUE(dl.ParseFromString(out[0].value));
  EXPECT_EQ(dl.reason(), "undecodable");
  EXPECT_EQ(dl.raw(), "{oops");
  EXPECT_EQ(p.counters().events_invalid, 1u);
}

TEST(Pipeline, DeadLetterDetailIsUtf8WhateverTheInputHeld) {
  // The detail quotes the bad id cut at 65 bytes, which here splits a
  // two-byte character; the raw input keeps every byte.
  BoundedQueue q(10);
  SignalTracker signal;
  Pipeline p(&q, &signal);
  std::string id;
  for (int i = 0; i < 33; ++i) id += "\xC3\x84";  // 33 x U+00C4, 66 bytes
  RawUpdate bad = Update(id, "1", kNow);
  bad.raw = "U,1,1,1 " + id;
  ASSERT_TRUE(p.Deliver(bad));
  auto out = Drain(q);
  ASSERT_EQ(out.size(), 1u);
  DeadLetter dl;
  ASSERT_TRUE(dl.ParseFromString(out[0].value));  // fails on a non-UTF-8 string field
  EXPECT_EQ(dl.reason(), "bad_item_id");
  EXPECT_TRUE(IsValidUtf8(dl.detail())) << dl.detail();
  EXPECT_EQ(dl.raw(), bad.raw);
}

TEST(Pipeline, HugeRawInputIsTruncatedInTheDeadLetter) {
  BoundedQueue q(10);
  SignalTracker signal;
  Pipeline p(&q, &signal);
  const std::string huge(200 * 1024, 'x');
  ASSERT_TRUE(p.RejectUndecodable("not valid JSON", huge, "replay"));
  auto out = Drain(q);
  ASSERT_EQ(out.size(), 1u);
  DeadLetter dl;
  ASSERT_TRUE(dl.ParseFromString(out[0].value));
  EXPECT_EQ(dl.raw().size(), kMaxDeadLetterRawBytes);
  EXPECT_NE(dl.detail().find("truncated from 204800 bytes"), std::string::npos) << dl.detail();
}

TEST(Pipeline, InvalidUpdatesAreCountedByReasonAndSignalIsExported) {
  BoundedQueue q(10);
  SignalTracker signal;
  Pipeline p(&q, &signal);
  const double bad_id = Metric("iss_ingest_invalid_total{reason=\"bad_item_id\"}");
  const double no_value = Metric("iss_ingest_invalid_total{reason=\"missing_value\"}");
  ASSERT_TRUE(p.Deliver(Update("x", "1", kNow)));
  ASSERT_TRUE(p.Deliver(Update("y", "1", kNow)));
  ASSERT_TRUE(p.Deliver(Update("NODE3000005", std::nullopt, kNow)));
  EXPECT_EQ(Metric("iss_ingest_invalid_total{reason=\"bad_item_id\"}"), bad_id + 2);
  EXPECT_EQ(Metric("iss_ingest_invalid_total{reason=\"missing_value\"}"), no_value + 1);
  ASSERT_TRUE(p.Deliver(Update("TIME_000001", "x", kNow, "0")));
  EXPECT_EQ(Metric("iss_ingest_signal_state"), 1);  // LOS
  ASSERT_TRUE(p.Deliver(Update("TIME_000001", "x", kNow + absl::Seconds(1), "24")));
  EXPECT_EQ(Metric("iss_ingest_signal_state"), 2);  // AOS
}

}  // namespace
}  // namespace iss::ingest
