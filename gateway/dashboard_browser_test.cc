// Browser test: headless Chromium loads the dashboard from a real gateway in
// front of seeded gRPC upstreams and the DOM must show the tank chart, the
// Pee-Bot detections and a live update that only the SSE tail delivered.
// Skips (with the reason) when Chromium is not installed.
#include <utility>  // before any Asio header

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "boost/asio.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/websocket.hpp"
#include "gateway/testing/http_client.h"
#include "nlohmann/json.hpp"

#include "absl/strings/escaping.h"
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
#include "tests/support/wait.h"

namespace iss::gateway {
namespace {

using ::testing::HasSubstr;
using testing::FakeUpstream;

std::string FindChromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}) {
    if (std::filesystem::exists(p)) return p;
  }
  return "";
}

extern "C" char** environ;

// Headless Chromium driven over the DevTools protocol: --dump-dom cannot wait
// for a page that keeps an SSE stream open (virtual time never runs out), so
// the test reads the live DOM with Runtime.evaluate and polls it with WaitFor.
class Chromium {
 public:
  Chromium(const std::string& binary, const std::string& url) {
    dir_ = absl::StrCat(::testing::TempDir(), "/chromium-", getpid());
    std::filesystem::create_directories(dir_);
    const std::string log = dir_ + "/stderr.log";
    std::vector<std::string> args = {binary, "--headless", "--no-sandbox", "--disable-gpu",
                                     "--no-first-run", "--disable-background-networking",
                                     "--disable-dev-shm-usage", "--remote-debugging-port=0",
                                     "--window-size=390,844",  // a phone
                                     "--user-data-dir=" + dir_ + "/profile", url};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // its own group: we stop all of it
    posix_spawnattr_setpgroup(&attr, 0);
    if (posix_spawn(&pid_, binary.c_str(), &fa, &attr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (pid_ <= 0) return;
    // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/..."
    std::smatch m;
    iss::testing::WaitFor(
        [&] {
          std::ifstream in(log);
          std::stringstream ss;
          ss << in.rdbuf();
          const std::string text = ss.str();
          static const std::regex re(R"(DevTools listening on ws://127\.0\.0\.1:(\d+)/)");
          if (!std::regex_search(text, m, re)) return false;
          devtools_port_ = std::stoi(m[1]);
          return true;
        },
        absl::Seconds(30), absl::Milliseconds(20));
  }
  std::string Log() const {
    std::ifstream in(dir_ + "/stderr.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  ~Chromium() {
    ws_.reset();
    if (pid_ > 0) {
      kill(-pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  bool started() const { return devtools_port_ > 0; }

  // Sends one DevTools command and returns its `result` (null on failure).
  nlohmann::json Call(const std::string& method, nlohmann::json params) {
    if (!ws_ && !Connect()) return nullptr;
    nlohmann::json req = {{"id", ++id_}, {"method", method}, {"params", std::move(params)}};
    boost::beast::error_code ec;
    ws_->write(boost::asio::buffer(req.dump()), ec);
    while (!ec) {
      boost::beast::flat_buffer buf;
      ws_->read(buf, ec);
      if (ec) break;
      auto j = nlohmann::json::parse(boost::beast::buffers_to_string(buf.data()), nullptr, false);
      if (j.is_object() && j.value("id", 0) == id_) return j.value("result", nlohmann::json());
    }
    ws_.reset();
    return nullptr;
  }

  // The page's current DOM as HTML ("" if the page is not reachable yet).
  std::string Dom() {
    nlohmann::json r = Call("Runtime.evaluate", {{"expression", "document.documentElement.outerHTML"},
                                                 {"returnByValue", true}});
    if (!r.is_object() || !r.contains("result")) return "";
    return r["result"].value("value", std::string());
  }

  // A PNG of the page (for people debugging the dashboard).
  bool Screenshot(const std::string& path) {
    nlohmann::json r = Call("Page.captureScreenshot", {{"format", "png"}});
    std::string png;
    if (!r.is_object() || !absl::Base64Unescape(r.value("data", ""), &png)) return false;
    std::ofstream(path, std::ios::binary) << png;
    return true;
  }

 private:
  bool Connect() {
    auto list = testing::HttpCall(devtools_port_, "GET", "/json/list");
    auto j = nlohmann::json::parse(list.body, nullptr, false);
    if (!j.is_array()) return false;
    std::string path;
    for (const auto& t : j) {
      if (t.value("type", "") == "page") {
        const std::string url = t.value("webSocketDebuggerUrl", "");
        const size_t p = url.find("/devtools/");
        if (p != std::string::npos) path = url.substr(p);
      }
    }
    if (path.empty()) return false;
    auto ws = std::make_unique<boost::beast::websocket::stream<boost::asio::ip::tcp::socket>>(ioc_);
    boost::beast::error_code ec;
    ws->next_layer().connect(
        {boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(devtools_port_)}, ec);
    if (!ec) ws->handshake(absl::StrCat("127.0.0.1:", devtools_port_), path, ec);
    if (ec) return false;
    ws_ = std::move(ws);
    return true;
  }

  std::string dir_;
  pid_t pid_ = -1;
  int devtools_port_ = 0;
  int id_ = 0;
  boost::asio::io_context ioc_;
  std::unique_ptr<boost::beast::websocket::stream<boost::asio::ip::tcp::socket>> ws_;
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
  const std::string chromium = FindChromium();
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
  storage.Stream("/iss.storage.v1.StorageService/Tail",
                 {TankEvent("58", now).SerializeAsString()}, /*hold=*/true);

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
  for (FakeUpstream* f : {&ingest, &storage, &peebot}) ASSERT_TRUE(f->Start().ok());

  Upstreams upstreams(PlatformUpstreams(ingest.address(), storage.address(), peebot.address()));
  auto routes = RouteTable::Build(*google::protobuf::DescriptorPool::generated_pool(),
                                  upstreams.ServiceNames());
  ASSERT_TRUE(routes.ok());
  Health health;
  ServerOptions options;
  options.address = "127.0.0.1:0";
  auto server = Server::Start(options, &*routes, &upstreams, &health);
  ASSERT_TRUE(server.ok());

  Chromium browser(chromium, absl::StrCat("http://127.0.0.1:", (*server)->port(), "/"));
  ASSERT_TRUE(browser.started()) << "chromium did not open its DevTools port";

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
}

}  // namespace
}  // namespace iss::gateway
