#include "tools/simulator/scenario.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iss::sim {
namespace {

using ::testing::HasSubstr;

TEST(Scenario, ParsesEveryKey) {
  auto s = ParseScenario(R"({
    "seed": 42, "updates_per_second": 120, "time_period_s": 2, "duration_s": 600,
    "urine": {"start_percent": 33,
              "events": [{"at_s": 60, "rise_percent": 8, "step_s": 4}],
              "per_hour": 1.5, "processing": [{"start_s": 100, "duration_s": 50}],
              "drain_step_s": 120, "flicker_per_hour": 3, "flicker_s": 6},
    "los": [{"start_s": 300, "duration_s": 30}],
    "faults": [{"at_s": 10, "kind": "stall", "duration_s": 5},
               {"at_s": 20, "kind": "garbage", "lines": 4}, {"at_s": 30, "kind": "loop"}]
  })");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->seed, 42u);
  EXPECT_EQ(s->updates_per_second, 120);
  EXPECT_EQ(s->time_period, absl::Seconds(2));
  EXPECT_EQ(s->duration, absl::Seconds(600));
  EXPECT_EQ(s->urine_start_percent, 33);
  ASSERT_EQ(s->urinations.size(), 1u);
  EXPECT_EQ(s->urinations[0].at, absl::Seconds(60));
  EXPECT_EQ(s->urinations[0].rise_percent, 8);
  EXPECT_EQ(s->urinations[0].step, absl::Seconds(4));
  EXPECT_EQ(s->urinations_per_hour, 1.5);
  ASSERT_EQ(s->processing.size(), 1u);
  EXPECT_EQ(s->processing[0].start, absl::Seconds(100));
  EXPECT_EQ(s->drain_step, absl::Seconds(120));
  EXPECT_EQ(s->flicker, absl::Seconds(6));
  ASSERT_EQ(s->los.size(), 1u);
  EXPECT_TRUE(s->los[0].Contains(absl::Seconds(310)));
  EXPECT_FALSE(s->los[0].Contains(absl::Seconds(330)));
  ASSERT_EQ(s->faults.size(), 3u);
  EXPECT_EQ(s->faults[0].kind, FaultKind::kStall);
  EXPECT_EQ(s->faults[0].duration, absl::Seconds(5));
  EXPECT_EQ(s->faults[1].kind, FaultKind::kGarbage);
  EXPECT_EQ(s->faults[1].lines, 4);
  EXPECT_EQ(s->faults[2].kind, FaultKind::kLoop);
}

TEST(Scenario, EmptyObjectIsTheDefaults) {
  auto s = ParseScenario("{}");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->updates_per_second, Scenario().updates_per_second);
  EXPECT_TRUE(s->faults.empty());
}

TEST(Scenario, UnknownKeysAreRejectedWithTheirPath) {
  auto top = ParseScenario(R"({"sead": 1})");
  ASSERT_FALSE(top.ok());
  EXPECT_THAT(top.status().message(), HasSubstr("sead: unknown key"));
  auto nested = ParseScenario(R"({"urine": {"events": [{"at_s": 1}, {"when": 2}]}})");
  ASSERT_FALSE(nested.ok());
  EXPECT_THAT(nested.status().message(), HasSubstr("urine.events[1].when: unknown key"));
}

TEST(Scenario, BadValuesNameTheKey) {
  struct Case {
    const char* json;
    const char* expect;
  } cases[] = {
      {R"({"updates_per_second": "fast"})", "updates_per_second: expected a number"},
      {R"({"updates_per_second": -1})", "updates_per_second: expected a number"},
      {R"({"urine": {"start_percent": 150}})", "urine.start_percent"},
      {R"({"faults": [{"kind": "explode"}]})", "faults[0].kind: expected one of"},
      {R"({"faults": {"kind": "drop"}})", "faults: expected an array"},
      {R"({"los": [{"start_s": "later"}]})", "los[0].start_s"},
      {R"({"urine": {"events": [{"step_s": 0}]}})", "urine.events[0].step_s: must be > 0"},
      {R"([1, 2])", "scenario: expected an object"},
  };
  for (const Case& c : cases) {
    auto s = ParseScenario(c.json);
    ASSERT_FALSE(s.ok()) << c.json;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.status().message(), HasSubstr(c.expect)) << c.json;
  }
}

TEST(Scenario, NotJson) {
  auto s = ParseScenario("{\"seed\": ");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("not valid JSON"));
}

TEST(Scenario, MissingFile) {
  auto s = LoadScenario("/nonexistent/scenario.json");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
}

TEST(Scenario, ShippedScenarioFilesParse) {
  for (const char* name : {"urination.json", "faults.json", "load.json"}) {
    auto s = LoadScenario(std::string(ISS_SIM_SCENARIO_DIR) + "/" + name);
    EXPECT_TRUE(s.ok()) << name << ": " << s.status();
  }
}

}  // namespace
}  // namespace iss::sim
