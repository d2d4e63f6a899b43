#include "services/peebot/detector.h"

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/event_id.h"
#include "gtest/gtest.h"
#include "services/peebot/scenario.h"

namespace iss::peebot {
namespace {

std::string Describe(const Detection& d) {
  return absl::StrCat(d.item_id, " start=", absl::ToDoubleSeconds(d.start_time - ScenarioEpoch()),
                      " end=", absl::ToDoubleSeconds(d.end_time - ScenarioEpoch()), " ",
                      d.start_level, "->", d.end_level);
}

bool Same(const Detection& a, const Detection& b) {
  return a.item_id == b.item_id && a.start_time == b.start_time && a.end_time == b.end_time &&
         a.start_level == b.start_level && a.end_level == b.end_level &&
         a.detection_id == b.detection_id;
}

std::vector<std::string> ScenarioFiles() {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(PEEBOT_TESTDATA_DIR)) {
    if (entry.path().extension() == ".scenario") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Every expected detection found, nothing else.
void ExpectMatches(const Scenario& sc, const std::vector<Detection>& got) {
  for (const Detection& want : sc.expected) {
    bool found = false;
    for (const Detection& d : got) found = found || Same(d, want);
    EXPECT_TRUE(found) << sc.name << ": missing " << Describe(want);
  }
  for (const Detection& d : got) {
    bool expected = false;
    for (const Detection& want : sc.expected) expected = expected || Same(d, want);
    EXPECT_TRUE(expected) << sc.name << ": unexpected " << Describe(d);
  }
}

class ScenarioTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ScenarioTest, FindsEveryExpectedEventAndNoOther) {
  auto sc = LoadScenario(GetParam());
  ASSERT_TRUE(sc.ok()) << sc.status();
  ASSERT_FALSE(sc->delivery.empty());
  const std::vector<Detection> got = RunScenario(*sc);
  ExpectMatches(*sc, got);
  for (const Detection& d : got) {
    EXPECT_DOUBLE_EQ(d.rise, d.end_level - d.start_level);
    EXPECT_DOUBLE_EQ(d.volume_ml, d.rise * 82.0);
  }
}

// A restart at any point (state saved and loaded into a new detector) gives
// exactly what one uninterrupted run gives: every event detected once.
TEST_P(ScenarioTest, RestartAnywhereGivesTheSameDetections) {
  auto sc = LoadScenario(GetParam());
  ASSERT_TRUE(sc.ok()) << sc.status();
  const std::vector<Detection> reference = RunScenario(*sc);
  const size_t n = sc->delivery.size();
  for (size_t cut = 1; cut < n; cut += std::max<size_t>(1, n / 37)) {
    std::vector<Detection> got;
    std::string state;
    {
      Detector first(sc->config);
      for (size_t i = 0; i < cut; ++i) first.Add(sc->delivery[i], &got);
      state = first.SaveState();
    }
    Detector second(sc->config);
    ASSERT_TRUE(second.LoadState(state).ok());
    for (size_t i = cut; i < n; ++i) second.Add(sc->delivery[i], &got);
    second.Drain(&got);
    ASSERT_EQ(got.size(), reference.size()) << sc->name << " cut at " << cut;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_TRUE(Same(got[i], reference[i])) << sc->name << " cut at " << cut;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Files, ScenarioTest, ::testing::ValuesIn(ScenarioFiles()),
                         [](const auto& info) {
                           std::string n = std::filesystem::path(info.param).stem().string();
                           return n;
                         });

TEST(DetectorTest, ScenarioDirectoryHasTheIssueScenarios) {
  std::vector<std::string> names;
  for (const auto& f : ScenarioFiles()) names.push_back(std::filesystem::path(f).stem());
  for (const char* want :
       {"clean_rises", "two_close_events", "slow_drain", "jitter", "los_gap", "reconnect_snapshot",
        "out_of_order", "replayed_month_later", "flicker_dip", "two_point_fill"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
}

// The receive time travels with the event; an event from before received_ts
// existed falls back to ingest_ts.
TEST(DetectorTest, SampleTakesTheReceiveTimeOrElseTheIngestTime) {
  iss::telemetry::v1::TelemetryEvent e;
  e.set_item_id("NODE3000005");
  e.mutable_source_ts()->set_seconds(1000);
  e.mutable_ingest_ts()->set_seconds(5000000);
  e.set_value("40");
  EXPECT_EQ(SampleFromEvent(e).received_ts, absl::FromUnixSeconds(5000000));
  e.mutable_received_ts()->set_seconds(1001);
  e.mutable_received_ts()->set_nanos(500000000);
  const Sample s = SampleFromEvent(e);
  EXPECT_EQ(s.received_ts, absl::FromUnixSeconds(1001) + absl::Milliseconds(500));
  EXPECT_EQ(s.ingest_ts, absl::FromUnixSeconds(5000000));
}

// A replay ingests every sample long after it was taken; only the receive
// time decides whether a sample is a snapshot.
TEST(DetectorTest, LagIsJudgedByTheReceiveTimeNotTheIngestTime) {
  auto live = LoadScenario(std::string(PEEBOT_TESTDATA_DIR) + "/clean_rises.scenario");
  ASSERT_TRUE(live.ok());
  const auto reference = RunScenario(*live);
  ASSERT_EQ(reference.size(), 2u);
  Scenario replayed = *live;
  for (Sample& s : replayed.delivery) s.ingest_ts = s.received_ts + absl::Hours(24 * 90);
  const auto got = RunScenario(replayed);
  ASSERT_EQ(got.size(), reference.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(Same(got[i], reference[i]));
  // A state saved mid-replay keeps the receive times of buffered samples.
  Detector first(replayed.config);
  std::vector<Detection> out;
  for (size_t i = 0; i < 50; ++i) first.Add(replayed.delivery[i], &out);
  ASSERT_GT(first.buffered(), 0u);
  Detector second(replayed.config);
  ASSERT_TRUE(second.LoadState(first.SaveState()).ok());
  EXPECT_EQ(second.SaveState(), first.SaveState());
}

// A consumer that believes itself caught up after every message (stale lag
// statistics) while the tank's partition is read 3 s of event time behind
// the clock's: releasing only up to the newest sample less the allowed
// lateness keeps the order and the detections; releasing everything would
// let the clock close a rise before its last steps arrived.
TEST(DetectorTest, ReleasingIdleStreamsKeepsTheOrderThatDrainingWouldBreak) {
  auto sc = ParseScenario("skewed_steps", R"(
ticks 0 300 0.25
tank 0 40
tank 100 41
tank 100.4 42
tank 100.8 43
tank 101.2 44
set max_step_gap 2
deliver skew NODE3000005 3
expect 100 101.2 40 44
)");
  ASSERT_TRUE(sc.ok()) << sc.status();
  std::vector<Detection> careful, hasty;
  Detector a(sc->config), b(sc->config);
  for (const Sample& s : sc->delivery) {
    a.Add(s, &careful);
    a.ReleaseIdleStreams(&careful);
    b.Add(s, &hasty);
    b.Drain(&hasty);
  }
  a.Drain(&careful);
  b.Drain(&hasty);
  ExpectMatches(*sc, careful);
  EXPECT_NE(hasty.size(), 1u) << "draining on every message should have split the rise";
}

TEST(DetectorTest, DetectionIdIsSha256OfItemAndStartTime) {
  const absl::Time t = ScenarioEpoch() + absl::Seconds(100);
  EXPECT_EQ(DetectionId("NODE3000005", t),
            iss::Sha256Hex("NODE3000005|2026-01-10T12:01:40.000000Z"));
  EXPECT_NE(DetectionId("NODE3000005", t), DetectionId("NODE3000005", t + absl::Microseconds(1)));
  EXPECT_EQ(DetectionId("NODE3000005", t).size(), 64u);
}

TEST(DetectorTest, MinRiseIsTunable) {
  auto sc = LoadScenario(std::string(PEEBOT_TESTDATA_DIR) + "/clean_rises.scenario");
  ASSERT_TRUE(sc.ok());
  sc->config.min_rise_percent = 4;  // the +3 % fill no longer counts
  const auto got = RunScenario(*sc);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_DOUBLE_EQ(got[0].rise, 6);
}

TEST(DetectorTest, StepGapIsTunable) {
  auto sc = LoadScenario(std::string(PEEBOT_TESTDATA_DIR) + "/partition_skew.scenario");
  ASSERT_TRUE(sc.ok());
  sc->config.max_step_gap = absl::Seconds(15);  // the 20 s steps are now separate
  const auto got = RunScenario(*sc);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_DOUBLE_EQ(got[0].end_level, 43);
}

TEST(DetectorTest, SampleLaterThanTheAllowedLatenessIsDroppedAndCounted) {
  auto sc = ParseScenario("late", R"(
ticks 0 300 1
tank 0 40
tank 100 41
tank 105 42
tank 110 43
)");
  ASSERT_TRUE(sc.ok()) << sc.status();
  Detector d(sc->config);
  std::vector<Detection> out;
  for (const Sample& s : sc->delivery) d.Add(s, &out);
  d.Drain(&out);
  ASSERT_EQ(out.size(), 1u);
  Sample late = sc->delivery.front();
  late.item_id = "NODE3000005";
  late.source_ts = ScenarioEpoch() + absl::Seconds(107);
  late.value = "99";
  d.Add(late, &out);
  d.Drain(&out);
  EXPECT_EQ(d.late_samples(), 1);
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ(d.LastLevel("NODE3000005")->percent, 43);
}

TEST(DetectorTest, IgnoresOtherItemsAndUnparsableLevels) {
  Detector d(DetectorConfig{});
  EXPECT_FALSE(d.Wants("S0000001"));
  EXPECT_TRUE(d.Wants("NODE3000005"));
  EXPECT_TRUE(d.Wants("NODE3000004"));
  EXPECT_TRUE(d.Wants("TIME_000001"));
  std::vector<Detection> out;
  Sample s;
  s.item_id = "NODE3000005";
  s.source_ts = ScenarioEpoch();
  s.value = "not-a-number";
  d.Add(s, &out);
  s.source_ts += absl::Seconds(5);
  s.value.reset();  // null
  d.Add(s, &out);
  d.Drain(&out);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(d.LastLevel("NODE3000005").has_value());
}

TEST(DetectorTest, CorruptStateIsRejectedAndLeavesTheDetectorUsable) {
  Detector d(DetectorConfig{});
  EXPECT_EQ(d.LoadState("{not json").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d.LoadState(R"({"version":7})").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d.LoadState(R"({"version":1})").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(d.LoadState(Detector(DetectorConfig{}).SaveState()).ok());
}

TEST(ScenarioParserTest, BadLinesNameTheLine) {
  auto sc = ParseScenario("x", "ticks 0 10 1\ntank five 50\n");
  ASSERT_FALSE(sc.ok());
  EXPECT_NE(sc.status().message().find("x:2"), std::string::npos) << sc.status();
  EXPECT_FALSE(ParseScenario("x", "frobnicate 1\n").ok());
  EXPECT_FALSE(ParseScenario("x", "set nonsense 1\n").ok());
  EXPECT_FALSE(ParseScenario("x", "ticks 0 10 0\n").ok());
}

}  // namespace
}  // namespace iss::peebot
