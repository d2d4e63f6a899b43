// The admin API over a real loopback gRPC server (iss::GrpcServer: auth,
// health, reflection) backed by a throwaway PostgreSQL.
#include "services/peebot/admin_service.h"

#include <cstdint>
#include <limits>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_server.h"
#include "common/grpc_util.h"
#include "gtest/gtest.h"
#include "iss/peebot/v1/peebot.grpc.pb.h"
#include "services/peebot/scenario.h"
#include "services/peebot/testing/manual_clock.h"
#include "tests/support/pg_server.h"

namespace iss::peebot {
namespace {

constexpr char kToken[] = "admin-s3cret";

// A +4 % detection of the tank starting at `start`, 30 s long.
Detection Det(absl::Time start) {
  Detection d;
  d.item_id = "NODE3000005";
  d.start_time = start;
  d.end_time = start + absl::Seconds(30);
  d.start_level = 40;
  d.end_level = 44;
  d.rise = 4;
  d.volume_ml = 328;
  d.detection_id = DetectionId(d.item_id, start);
  return d;
}

class AdminServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dsn_ = iss::testing::FreshDatabaseDsn();
    ASSERT_FALSE(dsn_.empty());
    store_ = std::make_unique<Store>(dsn_);
    ASSERT_TRUE(store_->Migrate().ok());
    settings_ = std::make_unique<RuntimeSettings>(PeeBotSettings{}, /*credentials=*/false);
    poster_ = std::make_unique<Poster>(store_.get(), nullptr, settings_.get(), &clock_);
    // Mastodon configured without credentials: dry-run.
    DestinationOptions mo;
    mo.name = "mastodon";
    mo.destinations = {"x", "mastodon"};
    mastodon_ =
        std::make_unique<DestinationPoster>(store_.get(), nullptr, settings_.get(), &clock_, mo);
    AdminService::Deps deps;
    deps.destinations = {mastodon_.get()};
    deps.store = store_.get();
    deps.settings = settings_.get();
    deps.poster = poster_.get();
    deps.on_settings_changed = [this] { ++changes_; };
    service_ = std::make_unique<AdminService>(deps);
    GrpcServerOptions o;
    o.address = "127.0.0.1:0";
    o.admin_token = kToken;
    o.services = {service_.get()};
    o.service_names = {"iss.peebot.v1.PeeBotService"};
    o.health = &health_;
    o.max_receive_bytes = kMaxRequestBytes;  // as main() sets it
    auto server = GrpcServer::Start(o);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = v1::PeeBotService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->port()), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(1));
  }

  // A context with the given token ("" = none).
  std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = kToken) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) AddBearer(ctx.get(), token);
    return ctx;
  }

  std::string dsn_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<RuntimeSettings> settings_;
  testing::ManualClock clock_{absl::FromUnixSeconds(1768046400) + absl::Hours(2)};
  std::unique_ptr<Poster> poster_;
  std::unique_ptr<DestinationPoster> mastodon_;
  std::unique_ptr<AdminService> service_;
  Health health_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<v1::PeeBotService::Stub> stub_;
  int changes_ = 0;
};

TEST_F(AdminServiceTest, StatusNeedsNoTokenAndReportsDryRunWithoutCredentials) {
  v1::Status st;
  ASSERT_TRUE(stub_->GetStatus(Ctx("").get(), {}, &st).ok());
  EXPECT_EQ(st.mode(), "dry-run");
  EXPECT_TRUE(st.dry_run());
  EXPECT_EQ(st.daily_post_cap(), 17u);
  EXPECT_EQ(st.x_api_health(), "unconfigured");
  EXPECT_EQ(st.detections_total(), 0u);
}

TEST_F(AdminServiceTest, AdminCallsNeedTheToken) {
  v1::Status st;
  v1::PausePostingRequest pause;
  EXPECT_EQ(stub_->PausePosting(Ctx("").get(), pause, &st).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(stub_->PausePosting(Ctx("wrong").get(), pause, &st).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(stub_->ResumePosting(Ctx("").get(), {}, &st).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  v1::Settings out;
  EXPECT_EQ(stub_->UpdateSettings(Ctx("wrong").get(), {}, &out).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::PostTestMessageResponse tr;
  EXPECT_EQ(stub_->PostTestMessage(Ctx("").get(), {}, &tr).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  v1::ReevaluateResponse rr;
  EXPECT_EQ(stub_->Reevaluate(Ctx("").get(), {}, &rr).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_FALSE(settings_->Get().paused);
  EXPECT_EQ(changes_, 0);
}

TEST_F(AdminServiceTest, PauseAndResumeArePersisted) {
  v1::Status st;
  v1::PausePostingRequest pause;
  pause.set_reason("crew asked nicely");
  ASSERT_TRUE(stub_->PausePosting(Ctx().get(), pause, &st).ok());
  EXPECT_EQ(st.mode(), "paused");
  EXPECT_TRUE(st.posting_paused());
  auto stored = store_->LoadSettings();
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_TRUE(FromJson(**stored, {})->paused);
  EXPECT_EQ(FromJson(**stored, {})->pause_reason, "crew asked nicely");
  ASSERT_TRUE(stub_->ResumePosting(Ctx().get(), {}, &st).ok());
  EXPECT_FALSE(st.posting_paused());
  EXPECT_FALSE(FromJson(**store_->LoadSettings(), {})->paused);
  EXPECT_EQ(changes_, 2);
}

TEST_F(AdminServiceTest, UpdateSettingsValidatesAndNamesTheField) {
  v1::UpdateSettingsRequest req;
  v1::Settings out;
  req.mutable_settings()->set_min_rise_percent(150);
  auto s = stub_->UpdateSettings(Ctx().get(), req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "min_rise_percent")) << s.error_message();

  req.Clear();
  *req.mutable_settings()->mutable_max_step_gap() = ToProtoDuration(absl::Hours(1));
  s = stub_->UpdateSettings(Ctx().get(), req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "max_step_gap")) << s.error_message();

  req.Clear();
  req.mutable_update_mask()->add_paths("colour");
  s = stub_->UpdateSettings(Ctx().get(), req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "colour")) << s.error_message();

  // Turning dry-run off without credentials cannot work.
  req.Clear();
  req.mutable_update_mask()->add_paths("dry_run");
  s = stub_->UpdateSettings(Ctx().get(), req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "dry_run")) << s.error_message();

  // Other fields stay adjustable while dry-run is forced by missing
  // credentials and the stored flag is false (the defaults).
  ASSERT_FALSE(settings_->Get().dry_run);
  req.Clear();
  *req.mutable_settings()->mutable_cooldown() = ToProtoDuration(absl::Minutes(5));
  s = stub_->UpdateSettings(Ctx().get(), req, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(FromProto(out.cooldown()), absl::Minutes(5));
  EXPECT_TRUE(out.dry_run());  // still effectively dry-run

  req.Clear();
  req.mutable_settings()->set_min_rise_percent(3.5);
  *req.mutable_settings()->mutable_cooldown() = ToProtoDuration(absl::Minutes(30));
  req.mutable_settings()->set_dry_run(true);
  ASSERT_TRUE(stub_->UpdateSettings(Ctx().get(), req, &out).ok());
  EXPECT_EQ(out.min_rise_percent(), 3.5);
  EXPECT_EQ(FromProto(out.cooldown()), absl::Minutes(30));
  EXPECT_EQ(settings_->Get().min_rise_percent, 3.5);
  v1::Settings got;
  ASSERT_TRUE(stub_->GetSettings(Ctx("").get(), {}, &got).ok());
  EXPECT_EQ(got.min_rise_percent(), 3.5);
  EXPECT_EQ(got.daily_post_cap(), 17u);  // untouched
  EXPECT_EQ(FromJson(**store_->LoadSettings(), {})->min_rise_percent, 3.5);
}

TEST_F(AdminServiceTest, ListDetectionsPagesNewestFirst) {
  std::vector<Detection> dets;
  const absl::Time t0 = absl::FromUnixSeconds(1768046400);
  for (int i = 0; i < 5; ++i) dets.push_back(Det(t0 + absl::Minutes(10 * i)));
  ASSERT_TRUE(store_->CommitBatch("g", {}, dets, "{}", {}).ok());
  v1::ListDetectionsRequest req;
  req.set_page_size(2);
  std::vector<std::string> ids;
  for (int page = 0; page < 5; ++page) {
    v1::ListDetectionsResponse res;
    ASSERT_TRUE(stub_->ListDetections(Ctx("").get(), req, &res).ok());
    for (const auto& d : res.detections()) ids.push_back(d.detection_id());
    if (res.next_page_token().empty()) break;
    req.set_page_token(res.next_page_token());
  }
  ASSERT_EQ(ids.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(ids[i], dets[4 - i].detection_id);

  // A window.
  req.Clear();
  *req.mutable_start_time() = iss::ToProto(t0 + absl::Minutes(10));
  *req.mutable_end_time() = iss::ToProto(t0 + absl::Minutes(30));
  v1::ListDetectionsResponse res;
  ASSERT_TRUE(stub_->ListDetections(Ctx("").get(), req, &res).ok());
  ASSERT_EQ(res.detections_size(), 2);
  EXPECT_EQ(res.detections(0).post_status(), v1::POST_STATUS_PENDING);

  // Bad input.
  req.Clear();
  req.set_page_size(501);
  EXPECT_EQ(stub_->ListDetections(Ctx("").get(), req, &res).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  req.Clear();
  req.set_page_token("not-a-token!");
  auto s = stub_->ListDetections(Ctx("").get(), req, &res);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "page_token"));
  req.Clear();
  *req.mutable_start_time() = iss::ToProto(t0 + absl::Minutes(30));
  *req.mutable_end_time() = iss::ToProto(t0);
  EXPECT_EQ(stub_->ListDetections(Ctx("").get(), req, &res).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// Tokens are "<start_time us>:<detection_id>" in base64, not secret: a
// hand-made one used to reach SQL (invalid UTF-8 -> SQLSTATE 22021, a huge
// number -> interval out of range), answered INTERNAL.
TEST_F(AdminServiceTest, HandMadePageTokensAndTimesAreInvalidArgument) {
  const absl::Time t0 = absl::FromUnixSeconds(1768046400);
  Detection d;
  d.item_id = "NODE3000005";
  for (int i = 0; i < 3; ++i) {
    d.start_time = t0 + absl::Minutes(i);
    d.end_time = d.start_time + absl::Seconds(30);
    d.detection_id = DetectionId(d.item_id, d.start_time);
    ASSERT_TRUE(store_->CommitBatch("g", {}, {d}, "{}", {}).ok());
  }
  v1::ListDetectionsRequest req;
  req.set_page_size(1);
  v1::ListDetectionsResponse res;
  ASSERT_TRUE(stub_->ListDetections(Ctx("").get(), req, &res).ok());
  const std::string good = res.next_page_token();
  ASSERT_FALSE(good.empty());
  std::string good_text;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(good, &good_text));
  const std::string us = good_text.substr(0, good_text.find(':'));
  const std::string id = good_text.substr(good_text.find(':') + 1);
  auto raw = [](const std::string& text) { return absl::WebSafeBase64Escape(text); };
  for (const std::string& token : {
           raw(absl::StrCat(us, ":\xff")),
           raw(absl::StrCat(us, ":", std::string(64, '\xff'))),
           raw(absl::StrCat("9223372036854775807:", id)),
           raw(absl::StrCat("-9223372036854775808:", id)),
           raw(absl::StrCat("32503680000000001:", id)),
           raw(absl::StrCat("+", us, ":", id)),
           raw(absl::StrCat("0", us, ":", id)),
           raw(absl::StrCat(us, ":", id.substr(1))),
           raw(absl::StrCat(us, ":", id, "0")),
           raw(absl::StrCat(us, ":", absl::AsciiStrToUpper(id))),
           raw(absl::StrCat(us, ":", id, ":x")),
           good + "=",
           good + "==",
           std::string(600, 'A'),
       }) {
    SCOPED_TRACE(token);
    req.set_page_token(token);
    auto s = stub_->ListDetections(Ctx("").get(), req, &res);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_TRUE(absl::StartsWith(s.error_message(), "page_token:")) << s.error_message();
  }
  // A token outside the window asked for is not one this query produced.
  req.set_page_token(good);
  *req.mutable_start_time() = iss::ToProto(t0 + absl::Hours(1));
  *req.mutable_end_time() = iss::ToProto(t0 + absl::Hours(2));
  EXPECT_EQ(stub_->ListDetections(Ctx("").get(), req, &res).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Times PostgreSQL cannot hold.
  for (int64_t seconds : {std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(),
                          int64_t{-62135596801}, int64_t{253402300800}}) {
    v1::ListDetectionsRequest bad;
    bad.mutable_start_time()->set_seconds(seconds);
    auto s = stub_->ListDetections(Ctx("").get(), bad, &res);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_TRUE(absl::StartsWith(s.error_message(), "start_time:")) << s.error_message();
    bad.Clear();
    bad.mutable_end_time()->set_seconds(seconds);
    s = stub_->ListDetections(Ctx("").get(), bad, &res);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_TRUE(absl::StartsWith(s.error_message(), "end_time:")) << s.error_message();
  }
  v1::ListDetectionsRequest bad_nanos;
  bad_nanos.mutable_start_time()->set_nanos(-1);
  EXPECT_EQ(stub_->ListDetections(Ctx("").get(), bad_nanos, &res).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // The real token still pages.
  req.Clear();
  req.set_page_size(1);
  req.set_page_token(good);
  ASSERT_TRUE(stub_->ListDetections(Ctx("").get(), req, &res).ok());
  ASSERT_EQ(res.detections_size(), 1);
  EXPECT_EQ(res.detections(0).detection_id(), DetectionId(d.item_id, t0 + absl::Minutes(1)));
}

TEST_F(AdminServiceTest, RequestsOverTheSizeCapAreRefusedBeforeTheHandler) {
  v1::PausePostingRequest req;
  req.set_reason(std::string(1000, 'r'));  // the longest reason the API takes
  v1::Status st;
  ASSERT_TRUE(stub_->PausePosting(Ctx().get(), req, &st).ok());
  EXPECT_EQ(changes_, 1);
  req.set_reason(std::string(kMaxRequestBytes, 'r'));
  auto s = stub_->PausePosting(Ctx().get(), req, &st);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(changes_, 1);  // the handler never ran
  v1::UpdateSettingsRequest many;
  for (int i = 0; i < 5000; ++i) many.mutable_update_mask()->add_paths("dry_run");
  v1::Settings out;
  EXPECT_EQ(stub_->UpdateSettings(Ctx().get(), many, &out).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  // And it keeps serving.
  ASSERT_TRUE(stub_->ResumePosting(Ctx().get(), {}, &st).ok());
  EXPECT_FALSE(st.posting_paused());
}

// Stale detections are listed as such, with the reason, and the status's
// last detection says so too.
TEST_F(AdminServiceTest, StaleDetectionsAreShownAsStale) {
  const Detection d = Det(absl::FromUnixSeconds(1768046400));
  ASSERT_TRUE(store_->CommitBatch("g", {}, {d}, "{}", {}, d.end_time + absl::Hours(1)).ok());
  v1::ListDetectionsResponse res;
  ASSERT_TRUE(stub_->ListDetections(Ctx("").get(), {}, &res).ok());
  ASSERT_EQ(res.detections_size(), 1);
  EXPECT_EQ(res.detections(0).post_status(), v1::POST_STATUS_STALE);
  EXPECT_TRUE(absl::StrContains(res.detections(0).last_error(), "not posted"))
      << res.detections(0).last_error();
  v1::Status status;
  ASSERT_TRUE(stub_->GetStatus(Ctx("").get(), {}, &status).ok());
  EXPECT_EQ(status.last_detection().post_status(), v1::POST_STATUS_STALE);
}

TEST_F(AdminServiceTest, DestinationsAreListedAndPausedOneAtATime) {
  v1::ListDestinationsResponse list;
  ASSERT_TRUE(stub_->ListDestinations(Ctx("").get(), {}, &list).ok());
  ASSERT_EQ(list.destinations_size(), 2);
  EXPECT_EQ(list.destinations(0).destination(), "x");
  EXPECT_EQ(list.destinations(1).destination(), "mastodon");
  EXPECT_EQ(list.destinations(1).health(), "unconfigured");
  EXPECT_TRUE(list.destinations(1).dry_run());
  EXPECT_EQ(list.destinations(1).daily_post_cap(), 17u);  // the shared cap

  v1::PauseDestinationRequest pause;
  pause.set_destination("mastodon");
  pause.set_reason("instance migration");
  v1::DestinationStatus st;
  EXPECT_EQ(stub_->PauseDestination(Ctx("").get(), pause, &st).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(changes_, 0);
  ASSERT_TRUE(stub_->PauseDestination(Ctx().get(), pause, &st).ok());
  EXPECT_EQ(st.destination(), "mastodon");
  EXPECT_TRUE(st.paused());
  EXPECT_EQ(st.pause_reason(), "instance migration");
  EXPECT_EQ((*store_->DestinationPauses())["mastodon"], "instance migration");
  v1::Status status;
  ASSERT_TRUE(stub_->GetStatus(Ctx("").get(), {}, &status).ok());
  ASSERT_EQ(status.destinations_size(), 2);
  EXPECT_FALSE(status.destinations(0).paused());  // X goes on
  EXPECT_TRUE(status.destinations(1).paused());
  EXPECT_FALSE(status.posting_paused());

  v1::ResumeDestinationRequest resume;
  resume.set_destination("mastodon");
  ASSERT_TRUE(stub_->ResumeDestination(Ctx().get(), resume, &st).ok());
  EXPECT_FALSE(st.paused());
  EXPECT_TRUE(store_->DestinationPauses()->empty());
  EXPECT_EQ(changes_, 2);

  // Bad input names the field and changes nothing.
  pause.set_destination("threads");
  auto s = stub_->PauseDestination(Ctx().get(), pause, &st);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "destination")) << s.error_message();
  pause.set_destination("bluesky");  // a destination, but not configured here
  s = stub_->PauseDestination(Ctx().get(), pause, &st);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "ISS_PEEBOT_DESTINATIONS")) << s.error_message();
  pause.set_destination("mastodon");
  pause.set_reason(std::string(1001, 'r'));
  s = stub_->PauseDestination(Ctx().get(), pause, &st);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "reason")) << s.error_message();
  EXPECT_TRUE(store_->DestinationPauses()->empty());
  EXPECT_EQ(changes_, 2);
}

TEST_F(AdminServiceTest, TestPostGoesToTheNamedDestination) {
  v1::PostTestMessageRequest req;
  req.set_destination("mastodon");
  req.set_force(true);
  v1::PostTestMessageResponse res;
  ASSERT_TRUE(stub_->PostTestMessage(Ctx().get(), req, &res).ok());
  EXPECT_EQ(res.destination(), "mastodon");
  EXPECT_EQ(res.outcome(), "dry-run");
  EXPECT_TRUE(absl::StrContains(res.error(), "mastodon")) << res.error();
  auto stats = store_->DestinationStats("mastodon", clock_.Now(), /*dry_run=*/true);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->last_text, res.text());
  EXPECT_EQ(store_->Stats(clock_.Now(), true)->last_text, "");  // not X's
  req.set_destination("myspace");
  auto s = stub_->PostTestMessage(Ctx().get(), req, &res);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "destination")) << s.error_message();
}

TEST_F(AdminServiceTest, TestPostIsDryRunAndValidated) {
  v1::PostTestMessageRequest req;
  v1::PostTestMessageResponse res;
  ASSERT_TRUE(stub_->PostTestMessage(Ctx().get(), req, &res).ok());
  EXPECT_EQ(res.outcome(), "dry-run");
  EXPECT_FALSE(res.text().empty());
  req.set_force(true);  // no credentials: still dry-run, and it says why
  ASSERT_TRUE(stub_->PostTestMessage(Ctx().get(), req, &res).ok());
  EXPECT_EQ(res.outcome(), "dry-run");
  EXPECT_FALSE(res.error().empty());
  req.set_text(std::string(300, 'a'));
  auto s = stub_->PostTestMessage(Ctx().get(), req, &res);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "text"));
}

TEST_F(AdminServiceTest, ReevaluateReplaysStoredSamples) {
  auto sc = LoadScenario(std::string(PEEBOT_TESTDATA_DIR) + "/two_close_events.scenario");
  ASSERT_TRUE(sc.ok());
  ASSERT_TRUE(store_->CommitBatch("g", sc->delivery, {}, "{}", {}).ok());
  v1::ReevaluateRequest req;
  *req.mutable_start_time() = iss::ToProto(ScenarioEpoch());
  *req.mutable_end_time() = iss::ToProto(ScenarioEpoch() + absl::Minutes(10));
  v1::ReevaluateResponse res;
  ASSERT_TRUE(stub_->Reevaluate(Ctx().get(), req, &res).ok());
  EXPECT_EQ(res.events_replayed(), sc->delivery.size());
  ASSERT_EQ(res.detections_size(), 2);
  // Newest first is for listing; a replay reports in event order.
  EXPECT_EQ(res.detections(0).detection_id(), sc->expected[0].detection_id);
  EXPECT_EQ(res.detections(1).detection_id(), sc->expected[1].detection_id);
  // The second one is 45 s after the first: inside the 15 min cooldown.
  ASSERT_EQ(res.would_post_size(), 1);
  EXPECT_EQ(res.detections(1).post_status(), v1::POST_STATUS_COOLDOWN);

  // With other settings: a 2-minute cooldown lets both through, and a 5 %
  // minimum rise keeps only the first (+5) one.
  *req.mutable_settings()->mutable_cooldown() = ToProtoDuration(absl::Seconds(10));
  ASSERT_TRUE(stub_->Reevaluate(Ctx().get(), req, &res).ok());
  EXPECT_EQ(res.would_post_size(), 2);
  req.mutable_settings()->set_min_rise_percent(5);
  ASSERT_TRUE(stub_->Reevaluate(Ctx().get(), req, &res).ok());
  EXPECT_EQ(res.detections_size(), 1);
  // Nothing was posted or stored by any of this.
  EXPECT_EQ(*store_->CountDetections(), 0);
}

// Samples stored from a replay were ingested months after they were taken,
// but carry the recorded receive time: Reevaluate finds what live found. The
// store keeps both times; the fallback for rows from before received_ts is
// ingest_ts.
TEST_F(AdminServiceTest, ReevaluateJudgesLagByTheStoredReceiveTime) {
  auto sc = LoadScenario(std::string(PEEBOT_TESTDATA_DIR) + "/replayed_month_later.scenario");
  ASSERT_TRUE(sc.ok());
  ASSERT_EQ(sc->expected.size(), 2u);
  ASSERT_TRUE(store_->CommitBatch("g", sc->delivery, {}, "{}", {}).ok());
  auto stored = store_->Samples(ScenarioEpoch(), ScenarioEpoch() + absl::Hours(1));
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->size(), sc->delivery.size());
  for (const Sample& s : *stored) {
    EXPECT_LT(s.received_ts - s.source_ts, absl::Seconds(200)) << s.item_id;
    EXPECT_GT(s.ingest_ts - s.source_ts, absl::Hours(24 * 29)) << s.item_id;
  }
  v1::ReevaluateRequest req;
  *req.mutable_start_time() = iss::ToProto(ScenarioEpoch());
  *req.mutable_end_time() = iss::ToProto(ScenarioEpoch() + absl::Minutes(20));
  v1::ReevaluateResponse res;
  ASSERT_TRUE(stub_->Reevaluate(Ctx().get(), req, &res).ok());
  ASSERT_EQ(res.detections_size(), 2);
  EXPECT_EQ(res.detections(0).detection_id(), sc->expected[0].detection_id);
  EXPECT_EQ(res.detections(1).detection_id(), sc->expected[1].detection_id);

  // A row from before received_ts existed reads its ingest time back instead.
  Sample old;
  old.item_id = "NODE3000005";
  old.source_ts = ScenarioEpoch() + absl::Hours(2);
  old.ingest_ts = old.source_ts + absl::Seconds(3);
  old.value = "1";
  ASSERT_TRUE(store_->CommitBatch("g", {old}, {}, "{}", {}).ok());
  auto back = store_->Samples(old.source_ts, old.source_ts + absl::Seconds(1));
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].received_ts, old.ingest_ts);
}

TEST_F(AdminServiceTest, ReevaluateRejectsBadWindowsAndSettings) {
  v1::ReevaluateRequest req;
  v1::ReevaluateResponse res;
  EXPECT_EQ(stub_->Reevaluate(Ctx().get(), req, &res).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  *req.mutable_start_time() = iss::ToProto(ScenarioEpoch());
  *req.mutable_end_time() = iss::ToProto(ScenarioEpoch() - absl::Seconds(1));
  EXPECT_EQ(stub_->Reevaluate(Ctx().get(), req, &res).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  *req.mutable_end_time() = iss::ToProto(ScenarioEpoch() + absl::Hours(24 * 30));
  EXPECT_EQ(stub_->Reevaluate(Ctx().get(), req, &res).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Times PostgreSQL cannot hold (the microsecond arithmetic would overflow).
  v1::ReevaluateRequest far;
  far.mutable_start_time()->set_seconds(std::numeric_limits<int64_t>::max() - 3600);
  far.mutable_end_time()->set_seconds(std::numeric_limits<int64_t>::max());
  auto fs = stub_->Reevaluate(Ctx().get(), far, &res);
  EXPECT_EQ(fs.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << fs.error_message();
  EXPECT_TRUE(absl::StartsWith(fs.error_message(), "start_time:")) << fs.error_message();
  *req.mutable_end_time() = iss::ToProto(ScenarioEpoch() + absl::Hours(1));
  req.mutable_settings()->set_min_rise_percent(-1);
  auto s = stub_->Reevaluate(Ctx().get(), req, &res);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "min_rise_percent"));
}

}  // namespace
}  // namespace iss::peebot
