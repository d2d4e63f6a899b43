// Browser test: headless Chromium loads the dashboard from a real gateway in
// front of seeded gRPC upstreams and the DOM must show the tank chart, the
// Pee-Bot detections and a live update that only the SSE tail delivered.
// Skips (with the reason) when Chromium is not installed.
#include <memory>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "gateway/fronted.h"
#include "gateway/route_table.h"
#include "gateway/server.h"
#include "gateway/testing/fake_upstream.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "iss/ingest/v1/ingest.pb.h"
#include "iss/peebot/v1/peebot.pb.h"
#include "iss/storage/v1/storage.pb.h"
#include "iss/telemetry/v1/telemetry.pb.h"
#include "tests/support/chromium.h"
#include "tests/support/wait.h"

namespace iss::gateway {
namespace {

using iss::testing::Chromium;
using testing::FakeUpstream;
using ::testing::HasSubstr;

// The real gateway in front of the three fakes (started here), and headless
// Chromium, phone-sized, on its page.
struct DashboardRig {
  std::unique_ptr<Upstreams> upstreams;
  std::optional<RouteTable> routes;
  Health health;
  std::unique_ptr<Server> server;
  std::unique_ptr<Chromium> browser;

  // "" when everything runs, else what did not start.
  std::string Start(const std::string& chromium, FakeUpstream& ingest, FakeUpstream& storage,
                    FakeUpstream& peebot) {
    for (FakeUpstream* f : {&ingest, &storage, &peebot}) {
      if (absl::Status s = f->Start(); !s.ok()) return s.ToString();
    }
    upstreams = std::make_unique<Upstreams>(
        PlatformUpstreams(ingest.address(), storage.address(), peebot.address()));
    auto table = RouteTable::Build(*google::protobuf::DescriptorPool::generated_pool(),
                                   upstreams->ServiceNames());
    if (!table.ok()) return table.status().ToString();
    routes.emplace(*std::move(table));
    ServerOptions options;
    options.address = "127.0.0.1:0";
    auto s = Server::Start(options, &*routes, upstreams.get(), &health);
    if (!s.ok()) return s.status().ToString();
    server = *std::move(s);
    browser = std::make_unique<Chromium>(
        chromium, absl::StrCat("http://127.0.0.1:", server->port(), "/"), "390,844");
    return browser->started() ? "" : "chromium did not open its DevTools port";
  }
};

iss::telemetry::v1::TelemetryEvent TankEvent(const std::string& value, absl::Time at) {
  iss::telemetry::v1::TelemetryEvent ev;
  ev.set_item_id("NODE3000005");
  ev.set_value(value);
  ev.set_source("simulator");
  *ev.mutable_source_ts() = ToProto(at);
  *ev.mutable_ingest_ts() = ToProto(at);
  ev.set_event_id(absl::StrCat("ev-", value));
  return ev;
}

TEST(DashboardBrowserTest, ChartDetectionsAndALiveUpdateRender) {
  const std::string chromium = Chromium::Find();
  if (chromium.empty()) GTEST_SKIP() << "chromium is not installed (apt-get install chromium)";

  const std::string token = "t";
  FakeUpstream ingest({"iss.ingest.v1.IngestService"}, token);
  FakeUpstream storage({"iss.storage.v1.StorageService"}, token);
  FakeUpstream peebot({"iss.peebot.v1.PeeBotService"}, token);
  const absl::Time now = absl::Now();

  // Seeded history: the tank level every 72 s over the last 5 hours, with two fills.
  iss::storage::v1::GetSeriesResponse series;
  series.set_item_id("NODE3000005");
  series.mutable_bucket()->set_seconds(72);
  double level = 40;
  for (int i = 250; i >= 1; --i) {
    if (i == 180 || i == 60) level += 7;
    auto* b = series.add_buckets();
    *b->mutable_start_time() = ToProto(now - absl::Seconds(72 * i));
    b->set_avg(level);
    b->set_last(absl::StrCat(level));
    b->set_count(3);
  }
  storage.Reply("/iss.storage.v1.StorageService/GetSeries", series);
  iss::storage::v1::ListItemsResponse items;
  for (auto [id, name, units] : {std::tuple{"NODE3000005", "Urine Tank Qty", "%"},
                                 std::tuple{"NODE3000004", "Urine Processor State", ""},
                                 std::tuple{"NODE3000009", "Clean Water Tank", "%"}}) {
    auto* it = items.add_items();
    it->set_item_id(id);
    it->set_name(name);
    it->set_units(units);
    it->set_last_value("50");
  }
  // An enumerated item carries its value labels: the page shows what a raw
  // value means, for the listed value and for live values alike.
  items.mutable_items(1)->set_last_value("32");
  for (auto [value, label] : {std::pair{"16", "NORMAL"}, std::pair{"32", "STANDBY"}}) {
    auto* l = items.mutable_items(1)->add_value_labels();
    l->set_value(value);
    l->set_label(label);
  }
  storage.Reply("/iss.storage.v1.StorageService/ListItems", items);
  // The live tail: one event at once, then whatever the test pushes.
  storage.Stream("/iss.storage.v1.StorageService/Tail", {TankEvent("58", now).SerializeAsString()},
                 /*hold=*/true);

  iss::peebot::v1::ListDetectionsResponse dets;
  for (int i : {180, 60}) {
    auto* d = dets.add_detections();
    d->set_detection_id(absl::StrCat("det-", i));
    d->set_item_id("NODE3000005");
    *d->mutable_start_time() = ToProto(now - absl::Seconds(72 * i + 40));
    *d->mutable_end_time() = ToProto(now - absl::Seconds(72 * i));
    d->set_start_level_percent(i == 180 ? 40 : 47);
    d->set_end_level_percent(i == 180 ? 47 : 54);
    d->set_rise_percent(7);
    d->set_estimated_volume_ml(574);
    // The older one was found too late to post (a backlog, a replay).
    d->set_post_status(i == 180 ? iss::peebot::v1::POST_STATUS_STALE
                                : iss::peebot::v1::POST_STATUS_POSTED);
  }
  peebot.Reply("/iss.peebot.v1.PeeBotService/ListDetections", dets);
  iss::peebot::v1::Status pstatus;
  pstatus.set_mode("live");
  peebot.Reply("/iss.peebot.v1.PeeBotService/GetStatus", pstatus);
  iss::ingest::v1::IngestStatus istatus;
  istatus.set_connection_state(iss::ingest::v1::CONNECTION_STATE_CONNECTED);
  istatus.set_signal(iss::telemetry::v1::SIGNAL_STATE_AOS);
  *istatus.mutable_last_update_at() = ToProto(now);
  ingest.Reply("/iss.ingest.v1.IngestService/GetIngestStatus", istatus);
  DashboardRig rig;
  ASSERT_EQ(rig.Start(chromium, ingest, storage, peebot), "");
  Chromium& browser = *rig.browser;

  // The page renders the seeded history and subscribes to the live tail ...
  std::string dom;
  ASSERT_TRUE(iss::testing::WaitFor(
      [&] {
        dom = browser.Dom();
        return absl::StrContains(dom, R"(data-detections="2")") && storage.OpenStreams() > 0 &&
               absl::StrContains(dom, R"(<strong id="tank-now">58 %</strong>)");
      },
      absl::Seconds(60), absl::Milliseconds(50)))
      << dom.substr(0, 6000);
  // ... then a value pushed now can only reach it over SSE.
  ASSERT_EQ(storage.Push("/iss.storage.v1.StorageService/Tail", TankEvent("63", absl::Now())), 1);
  ASSERT_TRUE(iss::testing::WaitFor(
      [&] {
        dom = browser.Dom();
        return absl::StrContains(dom, R"(<strong id="tank-now">63 %</strong>)");
      },
      absl::Seconds(30), absl::Milliseconds(50)))
      << dom.substr(0, 6000);

  EXPECT_THAT(dom, HasSubstr(">32 (STANDBY)<"));
  iss::telemetry::v1::TelemetryEvent state_change = TankEvent("16", absl::Now());
  state_change.set_item_id("NODE3000004");
  ASSERT_EQ(storage.Push("/iss.storage.v1.StorageService/Tail", state_change), 1);
  ASSERT_TRUE(iss::testing::WaitFor(
      [&] {
        dom = browser.Dom();
        return absl::StrContains(dom, ">16 (NORMAL)<");
      },
      absl::Seconds(30), absl::Milliseconds(50)))
      << dom.substr(0, 6000);

  ASSERT_THAT(dom, HasSubstr("<html"));
  // The tank chart: an SVG path over the seeded points.
  EXPECT_THAT(dom, HasSubstr(R"(class="series" d="M)"));
  // 250 seeded buckets + the two live points.
  EXPECT_THAT(dom, HasSubstr(R"(data-points="252")")) << dom.substr(0, 4000);
  // The Pee-Bot detections: two bands on the chart and two list entries.
  EXPECT_THAT(dom, HasSubstr(R"(data-detections="2")"));
  EXPECT_THAT(dom, HasSubstr(R"(data-id="det-180")"));
  EXPECT_THAT(dom, HasSubstr(R"(data-id="det-60")"));
  EXPECT_THAT(dom, HasSubstr("+7.0% (40 → 47%"));
  // The stale one is shown as such, on the chart and in the list.
  EXPECT_THAT(dom, HasSubstr(R"(class="detection stale" data-id="det-180")"));
  EXPECT_THAT(dom, HasSubstr(R"(class="detection" data-id="det-60")"));
  EXPECT_THAT(dom, HasSubstr("stale: too old when detected, not posted"));
  EXPECT_THAT(dom, HasSubstr("· posted"));
  // Status strip from the ingest status.
  EXPECT_THAT(dom, HasSubstr("AOS (live)"));
  EXPECT_THAT(dom, HasSubstr(">connected<"));
  // Item browser from ListItems.
  EXPECT_THAT(dom, HasSubstr("Clean Water Tank"));
  // ISS_TEST_SCREENSHOT=/tmp/dash.png keeps a picture of the phone-sized page.
  if (const char* shot = std::getenv("ISS_TEST_SCREENSHOT")) {
    EXPECT_TRUE(browser.Screenshot(shot));
  }
  // Both live events were counted.
  EXPECT_THAT(dom, HasSubstr(R"(data-live-events="3")"));
  // A streaming feed shows no notice.
  EXPECT_THAT(dom, HasSubstr(R"(<strong id="ingest-text">streaming</strong>)"));
  EXPECT_THAT(dom, HasSubstr(R"(id="source-notice" class="notice" role="alert" hidden="")"));
}

// Started without internet access, the page says what is wrong with the
// station feed and what to do, and never confuses it with its own stream.
TEST(DashboardBrowserTest, AnUnreachableFeedIsToldPlainlyWithWhatToDo) {
  const std::string chromium = Chromium::Find();
  if (chromium.empty()) GTEST_SKIP() << "chromium is not installed (apt-get install chromium)";
  FakeUpstream ingest({"iss.ingest.v1.IngestService"}, "t");
  FakeUpstream storage({"iss.storage.v1.StorageService"}, "t");
  FakeUpstream peebot({"iss.peebot.v1.PeeBotService"}, "t");
  iss::ingest::v1::IngestStatus istatus;
  istatus.set_connection_state(iss::ingest::v1::CONNECTION_STATE_CIRCUIT_OPEN);
  istatus.set_state_reason("connect: resolve push.lightstreamer.com: Host not found");
  istatus.set_hint("Without internet access, run ISS_PLATFORM_FEED=simulator scripts/platform.sh");
  *istatus.mutable_next_attempt_at() = ToProto(absl::Now() + absl::Minutes(1));
  ingest.Reply("/iss.ingest.v1.IngestService/GetIngestStatus", istatus);
  storage.Stream("/iss.storage.v1.StorageService/Tail", {}, /*hold=*/true);
  DashboardRig rig;
  ASSERT_EQ(rig.Start(chromium, ingest, storage, peebot), "");
  Chromium& browser = *rig.browser;
  std::string dom;
  ASSERT_TRUE(iss::testing::WaitFor(
      [&] {
        dom = browser.Dom();
        return absl::StrContains(dom, "ISS_PLATFORM_FEED=simulator") &&
               absl::StrContains(dom, ">connected<");
      },
      absl::Seconds(60), absl::Milliseconds(50)))
      << dom.substr(0, 6000);
  EXPECT_THAT(dom, HasSubstr("Station feed (ISSLIVE)"));
  EXPECT_THAT(dom, HasSubstr("circuit open until"));
  EXPECT_THAT(dom,
              HasSubstr("Station feed: connect: resolve push.lightstreamer.com: Host not found."));
  // The page's own stream is fine, and says so under its own name.
  EXPECT_THAT(dom, HasSubstr("This page's stream"));
}

}  // namespace
}  // namespace iss::gateway
