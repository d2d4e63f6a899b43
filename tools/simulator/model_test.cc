#include "tools/simulator/model.h"

#include <map>

#include "absl/strings/numbers.h"
#include "common/catalog.h"
#include "common/isslive_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iss::sim {
namespace {

const std::vector<std::string> kItems = {"TIME_000001", "NODE3000005", "NODE3000004",
                                         "S0000001",    "S0000002",    "USLAB000001"};
const absl::Time kEpoch =
    absl::FromCivil(absl::CivilSecond(2026, 6, 25, 0, 0, 0), absl::UTCTimeZone());

Scenario Quiet() {
  Scenario s;
  s.updates_per_second = 0;
  s.urinations_per_hour = 0;
  s.flicker_per_hour = 0;
  s.urine_start_percent = 40;
  return s;
}

// The urine tank's values over time as (scenario seconds, percent).
std::vector<std::pair<double, int>> UrineSeries(TelemetryModel& m, absl::Duration until,
                                                absl::Duration step = absl::Seconds(1)) {
  std::vector<std::pair<double, int>> out;
  std::vector<TelemetryModel::Change> changes;
  const int urine = m.Find("NODE3000005");
  for (absl::Duration t = step; t <= until; t += step) {
    changes.clear();
    m.AdvanceTo(t, &changes);
    for (const auto& c : changes) {
      if (static_cast<int>(c.item) != urine) continue;
      int v = 0;
      EXPECT_TRUE(absl::SimpleAtoi(*c.values[0], &v));
      out.emplace_back(absl::ToDoubleSeconds(t), v);
    }
  }
  return out;
}

TEST(TelemetryModel, InitialValuesHaveEveryField) {
  TelemetryModel m(Quiet(), kItems, kEpoch);
  for (size_t i = 0; i < kItems.size(); ++i) {
    ASSERT_EQ(m.Current(i).size(), 6u);
    EXPECT_TRUE(m.Current(i)[0].has_value()) << kItems[i];
  }
  EXPECT_EQ(*m.Current(m.Find("NODE3000005"))[0], "40");
  EXPECT_EQ(*m.Current(m.Find("NODE3000004"))[0], "32");
  EXPECT_EQ(*m.Current(m.Find("NODE3000004"))[5], "STANDBY");
  EXPECT_EQ(*m.Current(m.Find("TIME_000001"))[2], "24");
}

TEST(TelemetryModel, TimeStampIsIssHoursOfTheScenarioClock) {
  TelemetryModel m(Quiet(), kItems, kEpoch);
  std::vector<TelemetryModel::Change> changes;
  m.AdvanceTo(absl::Seconds(10), &changes);
  ASSERT_FALSE(changes.empty());
  const auto& last = changes.back();
  EXPECT_EQ(last.item, static_cast<size_t>(m.Find("TIME_000001")));
  auto t = ParseIssTimestamp(*last.values[1], kEpoch);
  ASSERT_TRUE(t.ok());
  EXPECT_LT(absl::AbsDuration(*t - (kEpoch + absl::Seconds(10))), absl::Milliseconds(1));
  EXPECT_EQ(changes.size(), 10u);  // one TIME_000001 per second, nothing else
}

TEST(TelemetryModel, UrinationRisesOnePercentPerStep) {
  Scenario s = Quiet();
  s.urinations = {{absl::Seconds(60), 7, absl::Seconds(5)}};
  TelemetryModel m(s, kItems, kEpoch);
  auto series = UrineSeries(m, absl::Seconds(200));
  ASSERT_EQ(series.size(), 7u);
  for (size_t k = 0; k < series.size(); ++k) {
    EXPECT_EQ(series[k].first, 60 + 5 * (k + 1));
    EXPECT_EQ(series[k].second, 41 + static_cast<int>(k));
  }
}

TEST(TelemetryModel, ProcessorDrainsWhileNormal) {
  Scenario s = Quiet();
  s.processing = {{absl::Seconds(100), absl::Seconds(1000)}};
  s.drain_step = absl::Seconds(300);
  TelemetryModel m(s, kItems, kEpoch);
  std::vector<TelemetryModel::Change> changes;
  m.AdvanceTo(absl::Seconds(101), &changes);
  EXPECT_EQ(m.processor_state(), 16);
  EXPECT_EQ(*m.Current(m.Find("NODE3000004"))[5], "NORMAL");
  m.AdvanceTo(absl::Seconds(1099), &changes);
  EXPECT_EQ(m.urine_percent(), 37);  // drains at 400, 700, 1000
  m.AdvanceTo(absl::Seconds(2000), &changes);
  EXPECT_EQ(m.processor_state(), 32);
  EXPECT_EQ(m.urine_percent(), 37);  // no drain in STANDBY
}

TEST(TelemetryModel, FlickersRevert) {
  Scenario s = Quiet();
  s.flicker_per_hour = 120;
  s.flicker = absl::Seconds(8);
  TelemetryModel m(s, kItems, kEpoch);
  auto series = UrineSeries(m, absl::Hours(1));
  ASSERT_GT(series.size(), 20u);
  for (size_t k = 0; k < series.size(); ++k) {
    EXPECT_LE(std::abs(series[k].second - 40), 1);
    // Every excursion is followed by a return to 40.
    if (series[k].second != 40 && k + 1 < series.size()) {
      EXPECT_EQ(series[k + 1].second, 40);
    }
  }
  EXPECT_EQ(m.urine_percent(), 40);
}

TEST(TelemetryModel, LosFreezesValuesAndFlagsTime) {
  Scenario s = Quiet();
  s.updates_per_second = 50;
  s.los = {{absl::Seconds(10), absl::Seconds(20)}};
  s.urinations = {{absl::Seconds(12), 3, absl::Seconds(2)}};  // happens during LOS
  TelemetryModel m(s, kItems, kEpoch);
  std::vector<TelemetryModel::Change> before, during, after;
  m.AdvanceTo(absl::Seconds(10) - absl::Nanoseconds(1), &before);
  m.AdvanceTo(absl::Seconds(29.5), &during);
  m.AdvanceTo(absl::Seconds(31), &after);
  const size_t time_item = static_cast<size_t>(m.Find("TIME_000001"));
  // During LOS: exactly one update, TIME_000001 with a class other than 24.
  ASSERT_EQ(during.size(), 1u);
  EXPECT_EQ(during[0].item, time_item);
  EXPECT_NE(*during[0].values[2], "24");
  // At AOS: TIME_000001 back to 24 and the tank re-sent with its new level.
  bool aos = false, tank = false;
  for (const auto& c : after) {
    if (c.item == time_item && *c.values[2] == "24") aos = true;
    if (static_cast<int>(c.item) == m.Find("NODE3000005") && *c.values[0] == "43") tank = true;
  }
  EXPECT_TRUE(aos);
  EXPECT_TRUE(tank);
}

TEST(TelemetryModel, BackgroundRate) {
  Scenario s = Quiet();
  s.updates_per_second = 200;
  TelemetryModel m(s, kItems, kEpoch);
  std::vector<TelemetryModel::Change> changes;
  m.AdvanceTo(absl::Seconds(10), &changes);
  size_t background = 0;
  for (const auto& c : changes) background += c.item >= 3;
  EXPECT_NEAR(static_cast<double>(background), 2000, 2);
  m.SetRate(1000);
  changes.clear();
  m.AdvanceTo(absl::Seconds(11), &changes);
  EXPECT_NEAR(static_cast<double>(changes.size()), 1000, 3);
}

TEST(TelemetryModel, OverBudgetSkipsBackgroundButNotScriptedItems) {
  Scenario s = Quiet();
  s.updates_per_second = 1000;
  s.urinations = {{absl::Seconds(1), 3, absl::Seconds(1)}};
  TelemetryModel m(s, kItems, kEpoch);
  std::vector<TelemetryModel::Change> changes;
  m.AdvanceTo(absl::Seconds(10), &changes, /*max_changes=*/100);
  size_t urine = 0, time = 0;
  for (const auto& c : changes) {
    urine += static_cast<int>(c.item) == m.Find("NODE3000005");
    time += static_cast<int>(c.item) == m.Find("TIME_000001");
  }
  EXPECT_EQ(urine, 3u);
  EXPECT_EQ(time, 10u);
  EXPECT_LT(changes.size(), 200u);
  EXPECT_GT(m.skipped(), 9000u);
  // Back under budget, the rate resumes.
  changes.clear();
  m.AdvanceTo(absl::Seconds(11), &changes);
  EXPECT_NEAR(static_cast<double>(changes.size()), 1001, 3);
}

TEST(TelemetryModel, SameSeedSameStory) {
  Scenario s = DefaultScenario();
  s.updates_per_second = 100;
  s.urinations_per_hour = 30;
  s.flicker_per_hour = 30;
  auto run = [&](uint64_t seed) {
    s.seed = seed;
    TelemetryModel m(s, kItems, kEpoch);
    std::vector<TelemetryModel::Change> changes;
    m.AdvanceTo(absl::Minutes(5), &changes);
    std::vector<std::pair<size_t, tlcp::FieldValues>> out;
    for (auto& c : changes) out.emplace_back(c.item, c.values);
    return out;
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

}  // namespace
}  // namespace iss::sim
