#include "services/ingestion/replay.h"

#include <cstdio>
#include <fstream>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/event_id.h"
#include "common/grpc_util.h"
#include "gtest/gtest.h"
#include "services/ingestion/enricher.h"
#include "services/ingestion/validator.h"
#include "tests/support/wait.h"

namespace iss::ingest {
namespace {

class CollectingSink : public UpdateSink {
 public:
  bool Deliver(RawUpdate u) override {
    absl::MutexLock lock(&mu_);
    updates_.push_back(std::move(u));
    at_.push_back(absl::Now());
    return true;
  }
  std::vector<RawUpdate> updates() {
    absl::MutexLock lock(&mu_);
    return updates_;
  }
  std::vector<absl::Time> at() {
    absl::MutexLock lock(&mu_);
    return at_;
  }

 private:
  absl::Mutex mu_;
  std::vector<RawUpdate> updates_;
  std::vector<absl::Time> at_;
};

std::string TempFile(const std::string& content) {
  static int n = 0;
  std::string path = ::testing::TempDir() + "/replay_" + std::to_string(::getpid()) + "_" +
                     std::to_string(n++) + ".jsonl";
  std::ofstream(path) << content;
  return path;
}

TEST(ReplayLine, ParsesAllFieldsAndNulls) {
  auto u = ParseReplayLine(
      R"({"item_id":"NODE3000005","value":"42","timestamp":"4224.01","status_class":"24",)"
      R"("status_indicator":null,"calibrated_data":"","received_at":"2026-06-25T00:00:52.502Z"})",
      "replay");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->item_id, "NODE3000005");
  EXPECT_EQ(u->value, "42");
  EXPECT_EQ(u->timestamp, "4224.01");
  EXPECT_EQ(u->status_class, "24");
  EXPECT_FALSE(u->status_indicator.has_value());
  EXPECT_FALSE(u->status_color.has_value());  // absent = null
  EXPECT_EQ(u->calibrated_data, "");
  EXPECT_EQ(u->received_at, absl::FromUnixMillis(1782345652502));
  EXPECT_EQ(u->source, "replay");
}

TEST(ReplayLine, RejectsMalformedLines) {
  for (const char* line :
       {"{oops", "[1,2]", "42", R"({"value":"1"})", R"({"item_id":7})",
        R"({"item_id":"A","value":1.5})", R"({"item_id":"A","received_at":"yesterday"})"}) {
    auto u = ParseReplayLine(line, "replay");
    EXPECT_EQ(u.status().code(), absl::StatusCode::kInvalidArgument) << line;
  }
}

TEST(ReplayLine, FormatRoundTrips) {
  RawUpdate u;
  u.item_id = "TIME_000001";
  u.value = std::nullopt;
  u.timestamp = "4224.5";
  u.status_class = "24";
  u.calibrated_data = "a \"quoted\" | value";
  u.received_at = absl::FromUnixMicros(1782345652502123);
  auto back = ParseReplayLine(FormatReplayLine(u), "replay");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->item_id, u.item_id);
  EXPECT_EQ(back->value, u.value);
  EXPECT_EQ(back->timestamp, u.timestamp);
  EXPECT_EQ(back->calibrated_data, u.calibrated_data);
  EXPECT_EQ(back->received_at, u.received_at);

  // Escapes and control characters survive; bytes that are not UTF-8 (the
  // feed's text is written as it came) become U+FFFD instead of a line no
  // JSON reader takes.
  u.value = "tab\t nl\n bs\\ q\" \x01 \xc3\xa9";
  u.status_color = "bad \xff byte";
  u.snapshot = true;
  const std::string line = FormatReplayLine(u);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  back = ParseReplayLine(line, "replay");
  ASSERT_TRUE(back.ok()) << back.status() << ": " << line;
  EXPECT_EQ(back->value, u.value);
  EXPECT_EQ(back->status_color, "bad \xef\xbf\xbd byte");
  EXPECT_TRUE(back->snapshot);
}

// A stored event written back as a replay line (issctl export) becomes the
// same event again: same event_id, its receive time carried over.
TEST(ReplayLine, AStoredEventReplaysAsTheSameEvent) {
  iss::telemetry::v1::TelemetryEvent e;
  e.set_schema_version(1);
  e.set_item_id("NODE3000005");
  iss::ToProto(absl::FromUnixMicros(1782345652502123), e.mutable_source_ts());
  iss::ToProto(absl::FromUnixMicros(1782345652702456), e.mutable_received_ts());
  iss::ToProto(absl::FromUnixMicros(1790000000000000), e.mutable_ingest_ts());
  e.set_value("42");
  e.mutable_status()->set_class_("24");
  e.mutable_status()->set_color("");
  e.set_calibrated_data("a|b");
  e.set_event_id(iss::ComputeEventId(e));
  auto u = ParseReplayLine(FormatReplayLine(UpdateFromEvent(e)), "replay");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->received_at, absl::FromUnixMicros(1782345652702456));
  auto v = Validate(*u, absl::FromUnixMicros(1790000000000000));
  ASSERT_TRUE(v.ok()) << v.status();
  const auto again = Enrich(*v, iss::telemetry::v1::SIGNAL_STATE_AOS, absl::Now());
  EXPECT_EQ(again.event_id(), e.event_id());
  EXPECT_EQ(iss::FromProto(again.received_ts()), absl::FromUnixMicros(1782345652702456));
  EXPECT_FALSE(again.status().has_indicator());
  EXPECT_EQ(again.status().color(), "");

  // An event from before received_ts existed: its ingest time stands in.
  e.clear_received_ts();
  EXPECT_EQ(UpdateFromEvent(e).received_at, absl::FromUnixMicros(1790000000000000));
}

TEST(ReplaySource, ReplaysEveryLineAndHandsBadOnesOver) {
  const std::string path = TempFile(
      "# recorded 2026-06-25\n"
      R"({"item_id":"A1","value":"1","timestamp":"1.0","received_at":"2026-06-25T00:00:00Z"})"
      "\n\n{broken\n"
      R"({"item_id":"A1","value":"2","timestamp":"1.0","received_at":"2026-06-25T00:00:01Z"})"
      "\n");
  CollectingSink sink;
  std::vector<std::string> bad;
  ReplaySource src({.path = path, .speed = 0, .progress = false}, &sink,
                   [&](std::string_view detail, std::string_view raw) {
                     bad.emplace_back(raw);
                     return true;
                   });
  ASSERT_TRUE(src.Start().ok());
  src.WaitDone();
  auto got = sink.updates();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].value, "1");
  EXPECT_EQ(got[1].value, "2");
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0], "{broken");
  auto p = src.progress();
  EXPECT_EQ(p.lines, 3);
  EXPECT_EQ(p.bad_lines, 1);
  EXPECT_TRUE(p.done);
  EXPECT_EQ(p.bytes, p.total_bytes);
}

TEST(ReplaySource, KeepsTheRecordedSpacingScaledBySpeed) {
  // Two updates recorded 2 s apart, replayed 20x faster: >= 100 ms apart.
  const std::string path = TempFile(
      R"({"item_id":"A1","value":"1","timestamp":"1.0","received_at":"2026-06-25T00:00:00Z"})"
      "\n"
      R"({"item_id":"A1","value":"2","timestamp":"1.0","received_at":"2026-06-25T00:00:02Z"})"
      "\n");
  CollectingSink sink;
  ReplaySource src({.path = path, .speed = 20, .progress = false}, &sink,
                   [](std::string_view, std::string_view) { return true; });
  ASSERT_TRUE(src.Start().ok());
  src.WaitDone();
  auto at = sink.at();
  ASSERT_EQ(at.size(), 2u);
  EXPECT_GE(at[1] - at[0], absl::Milliseconds(100));
}

TEST(ReplaySource, StopInterruptsAWait) {
  const std::string path = TempFile(
      R"({"item_id":"A1","value":"1","timestamp":"1.0","received_at":"2026-06-25T00:00:00Z"})"
      "\n"
      R"({"item_id":"A1","value":"2","timestamp":"1.0","received_at":"2026-06-25T05:00:00Z"})"
      "\n");
  CollectingSink sink;
  ReplaySource src({.path = path, .speed = 1, .progress = false}, &sink,
                   [](std::string_view, std::string_view) { return true; });
  ASSERT_TRUE(src.Start().ok());
  ASSERT_TRUE(iss::testing::WaitFor([&] { return sink.updates().size() == 1; }));
  src.Stop();
  src.WaitDone();  // returns at once instead of after five hours
  EXPECT_EQ(sink.updates().size(), 1u);
}

TEST(ReplaySource, MissingFileIsNotFound) {
  CollectingSink sink;
  ReplaySource src({.path = "/nonexistent/replay.jsonl"}, &sink,
                   [](std::string_view, std::string_view) { return true; });
  EXPECT_EQ(src.Start().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace iss::ingest
