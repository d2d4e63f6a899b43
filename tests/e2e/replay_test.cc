// Record and replay reproduce a live session (issue #15). A live session of
// the whole platform, fed by the ISSLIVE simulator with several scripted
// urinations, is recorded by iss-ingestion (ISS_INGEST_RECORD_DIR, gzip).
// The recording is then replayed into a fresh platform (new database, new
// bus) at speed 0, 10 and 1. Each replay must store exactly the event ids the
// recording holds (the same ones live stored), with the recorded receive
// times, and Pee-Bot must find exactly the live detections, also through
// Reevaluate over its stored samples.
//
// Pee-Bot runs with a 5 s sample-lag limit (ISS_PEEBOT_MAX_SAMPLE_LAG): the
// feed delivers within milliseconds, so live is unaffected, while every
// replay here starts more than 5 s after the session (a platform takes longer
// than that to start), so a detector that judged lag by ingest_ts instead of
// the recorded received_ts would take every replayed sample for a late
// snapshot and find nothing: the bug this guards against, at test scale.
#include "services/ingestion/replay.h"

#include <dirent.h>

#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/catalog.h"
#include "common/grpc_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/ingestion/enricher.h"
#include "services/ingestion/validator.h"
#include "tests/e2e/platform.h"
#include "tests/support/wait.h"

namespace iss::e2e {
namespace {

using iss::testing::WaitFor;

// ~22 s of station life: the clock every 250 ms, 20 background updates/s,
// four urinations (+3, +4, +2, +5 %, one percent every 400 ms), each closed
// by the 2 s step gap the platform gives Pee-Bot before the next begins.
sim::Scenario Session() {
  sim::Scenario s;
  s.seed = 15;
  s.updates_per_second = 20;
  s.time_period = absl::Milliseconds(250);
  s.urine_start_percent = 40;
  s.urinations = {{absl::Seconds(2), 3, absl::Milliseconds(400)},
                  {absl::Seconds(6), 4, absl::Milliseconds(400)},
                  {absl::Seconds(11), 2, absl::Milliseconds(400)},
                  {absl::Seconds(15), 5, absl::Milliseconds(400)}};
  s.urinations_per_hour = 0;
  s.flicker_per_hour = 0;
  return s;
}
constexpr absl::Duration kSessionLength = absl::Seconds(22);
constexpr int kUrinations = 4;

PlatformOptions Options(const std::string& tag) {
  PlatformOptions po;
  po.items = SessionItems(6);
  po.scenario = Session();
  po.speed = 1.0;
  po.tag = tag;
  po.peebot_env = {{"ISS_PEEBOT_MAX_SAMPLE_LAG", "5s"}};
  return po;
}

// The event ids a recording turns into, as ingestion turns them (parse,
// validate, enrich): what storage must hold after replaying it.
std::set<std::string> IdsOfRecording(const std::string& dir) {
  struct Collect : ingest::UpdateSink {
    bool Deliver(ingest::RawUpdate u) override {
      auto v = ingest::Validate(u, absl::Now());
      if (v.ok()) {
        ids.insert(
            ingest::Enrich(*v, iss::telemetry::v1::SIGNAL_STATE_AOS, absl::Now()).event_id());
      }
      return true;
    }
    std::set<std::string> ids;
  } collect;
  ingest::ReplaySource src({.path = dir, .speed = 0, .progress = false}, &collect,
                           [](std::string_view, std::string_view) { return true; });
  EXPECT_TRUE(src.Start().ok());
  src.WaitDone();
  EXPECT_EQ(src.progress().bad_lines, 0);
  return collect.ids;
}

// detection id -> "start end from->to", from a JSON list of detections.
std::map<std::string, std::string> Describe(const nlohmann::json& list) {
  std::map<std::string, std::string> out;
  for (const auto& d : list) {
    out[d.value("detectionId", "")] =
        absl::StrCat(d.value("startTime", ""), " ", d.value("endTime", ""), " ",
                     d["startLevelPercent"].dump(), "->", d["endLevelPercent"].dump());
  }
  return out;
}

std::map<std::string, std::string> Detections(Platform& p) {
  auto body = p.Get("/api/v1/peebot/detections?page_size=500");
  if (!body.ok()) return {};
  const auto j = nlohmann::json::parse(*body, nullptr, false);
  if (j.is_discarded() || !j.contains("detections")) return {};
  return Describe(j["detections"]);
}

// Reevaluate (admin, through the gateway) over the session's window.
std::map<std::string, std::string> Reevaluated(Platform& p, absl::Time from, absl::Time to) {
  const std::string body = absl::StrCat(R"({"startTime":")", FormatRfc3339Micros(from),
                                        R"(","endTime":")", FormatRfc3339Micros(to), R"("})");
  auto r =
      iss::testing::HttpRequest(p.gateway_port(), "POST", "/api/v1/peebot:reevaluate", body,
                                {{"Authorization", absl::StrCat("Bearer ", kPlatformAdminToken)},
                                 {"Content-Type", "application/json"}});
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return {};
  EXPECT_EQ(r->first, 200) << r->second;
  const auto j = nlohmann::json::parse(r->second, nullptr, false);
  if (j.is_discarded() || !j.contains("detections")) return {};
  return Describe(j["detections"]);
}

std::map<std::string, absl::Time> StoredReceiveTimes(Platform& p,
                                                     const std::vector<std::string>& items) {
  std::map<std::string, absl::Time> out;
  auto events = p.QueryAll(items);
  if (!events.ok()) return out;
  for (const RestEvent& e : *events) out[e.event_id] = e.received_ts;
  return out;
}

std::set<std::string> Keys(const std::map<std::string, absl::Time>& m) {
  std::set<std::string> out;
  for (const auto& [k, v] : m) out.insert(k);
  return out;
}

TEST(RecordAndReplay, ReplaysAtSpeed0_10_1StoreTheSameEventsAndFindTheSameDetections) {
  const std::string dir = absl::StrCat("/tmp/iss-replay-e2e-", getpid());
  std::system(absl::StrCat("rm -rf '", dir, "'").c_str());
  const std::vector<std::string> items = SessionItems(6);

  // --- the live session, recorded ---------------------------------------------
  std::map<std::string, absl::Time> live_received;
  std::map<std::string, std::string> live_detections, live_reevaluated;
  absl::Time epoch;
  std::set<std::string> recorded;
  {
    PlatformOptions po = Options("replay-live");
    po.ingestion_env = {{"ISS_INGEST_RECORD_DIR", dir}, {"ISS_INGEST_RECORD_GZIP", "true"}};
    auto platform = Platform::Start(po);
    ASSERT_TRUE(platform.ok()) << platform.status();
    Platform& p = **platform;
    ASSERT_TRUE(p.StartFeed().ok());
    epoch = p.epoch();
    ASSERT_TRUE(WaitFor([&] { return p.simulator().scenario_time() >= kSessionLength; },
                        absl::Seconds(60)));
    ASSERT_TRUE(WaitFor([&] { return Detections(p).size() >= kUrinations; }, absl::Seconds(30)))
        << "live detections: " << Detections(p).size() << "\n"
        << p.Logs();
    p.StopSimulator();
    // SIGTERM: the recorder writes what it holds and closes its file.
    ASSERT_EQ(p.ingestion()->Stop(absl::Seconds(30)), 0) << p.Logs();
    recorded = IdsOfRecording(dir);
    ASSERT_GT(recorded.size(), 300u);
    ASSERT_TRUE(WaitFor([&] { return Keys(StoredReceiveTimes(p, items)) == recorded; },
                        absl::Seconds(30), absl::Milliseconds(200)))
        << "live storage holds " << StoredReceiveTimes(p, items).size() << " of " << recorded.size()
        << " recorded events";
    live_received = StoredReceiveTimes(p, items);
    live_detections = Detections(p);
    ASSERT_EQ(live_detections.size(), static_cast<size_t>(kUrinations));
    live_reevaluated = Reevaluated(p, epoch - absl::Minutes(1), absl::Now() + absl::Minutes(1));
    EXPECT_EQ(live_reevaluated, live_detections);
  }

  // --- the recording, replayed into fresh platforms --------------------------
  for (double speed : {0.0, 10.0, 1.0}) {
    SCOPED_TRACE(absl::StrCat("replay at speed ", speed));
    auto platform = Platform::Start(Options(absl::StrCat("replay-", speed)));
    ASSERT_TRUE(platform.ok()) << platform.status();
    Platform& p = **platform;
    ASSERT_TRUE(p.StartReplay(dir, speed, epoch).ok());
    // Every recorded event, once, with the receive time it had live.
    std::map<std::string, absl::Time> received;
    const bool stored = WaitFor(
        [&] {
          received = StoredReceiveTimes(p, items);
          return received.size() >= recorded.size();
        },
        absl::Seconds(90), absl::Milliseconds(250));
    ASSERT_TRUE(stored) << "stored " << received.size() << " of " << recorded.size() << "\n"
                        << p.Logs();
    EXPECT_EQ(Keys(received), recorded);
    EXPECT_EQ(received, live_received) << "receive times differ from the live session's";
    // The live detections, the same ids: found live and by Reevaluate.
    std::map<std::string, std::string> got;
    WaitFor(
        [&] {
          got = Detections(p);
          return got.size() >= live_detections.size();
        },
        absl::Seconds(30), absl::Milliseconds(250));
    EXPECT_EQ(got, live_detections) << p.Logs();
    EXPECT_EQ(Reevaluated(p, epoch - absl::Minutes(1), absl::Now() + absl::Minutes(1)),
              live_detections);
  }
  std::system(absl::StrCat("rm -rf '", dir, "'").c_str());
}

}  // namespace
}  // namespace iss::e2e
