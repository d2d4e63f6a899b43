// The poster against the real pieces: a throwaway PostgreSQL with the real
// migrations, the real X client, and the fake X server checking signatures.
// Only wall time is simulated (ManualClock), so backoff and rate-limit waits
// are asserted exactly instead of being slept through.
#include "services/peebot/poster.h"

#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "common/grpc_util.h"
#include "common/metrics.h"
#include "gtest/gtest.h"
#include "services/peebot/store.h"
#include "services/peebot/testing/fake_x_server.h"
#include "services/peebot/testing/manual_clock.h"
#include "tests/support/pg_server.h"

namespace iss::peebot {
namespace {

using testing::FakeXReply;
using testing::FakeXServer;
using testing::ManualClock;
using testing::TestDetection;

const OAuthCredentials kCreds{"ck", "cs", "tk", "ts"};
const absl::Time kT0 = absl::FromUnixSeconds(1768046400);  // 2026-01-10T12:00Z

class PosterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dsn_ = iss::testing::FreshDatabaseDsn();
    ASSERT_FALSE(dsn_.empty());
    store_ = std::make_unique<Store>(dsn_);
    ASSERT_TRUE(store_->Migrate().ok());
    auto fake = FakeXServer::Start(kCreds);
    ASSERT_TRUE(fake.ok()) << fake.status();
    fake_ = std::move(*fake);
    auto client = XClient::Create({fake_->base_url(), kCreds, absl::Seconds(5), ""});
    ASSERT_TRUE(client.ok());
    client_ = std::move(*client);
    PeeBotSettings s;
    s.cooldown = absl::ZeroDuration();
    settings_ = std::make_unique<RuntimeSettings>(s, true);
  }

  void Insert(const std::vector<Detection>& dets) {
    auto n = store_->CommitBatch("test", {}, dets, "{}", {});
    ASSERT_TRUE(n.ok()) << n.status();
  }
  v1::Detection Row(const Detection& d) {
    auto r = store_->Get(d.detection_id);
    EXPECT_TRUE(r.ok() && r->has_value());
    return r.ok() && r->has_value() ? **r : v1::Detection();
  }
  std::unique_ptr<Poster> NewPoster(XApi* x, absl::Duration max_post_age = absl::ZeroDuration()) {
    PosterOptions o;
    o.base_backoff = absl::Seconds(2);
    // Detections here end an hour or more before the clock: no freshness
    // limit unless a test is about it.
    o.max_post_age = max_post_age;
    return std::make_unique<Poster>(store_.get(), x, settings_.get(), &clock_, o);
  }
  void Set(std::function<void(PeeBotSettings&)> f) {
    PeeBotSettings s = settings_->Get();
    f(s);
    settings_->Set(s);
  }

  std::string dsn_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<FakeXServer> fake_;
  std::unique_ptr<XClient> client_;
  std::unique_ptr<RuntimeSettings> settings_;
  ManualClock clock_{kT0 + absl::Hours(1)};
};

TEST_F(PosterTest, PostsOnceAndAReplayPostsNothing) {
  const Detection d = TestDetection(kT0);
  Insert({d});
  auto poster = NewPoster(client_.get());
  ASSERT_EQ(*poster->RunOnce(), 1);
  ASSERT_EQ(fake_->posts().size(), 1u);
  const v1::Detection row = Row(d);
  EXPECT_EQ(row.post_status(), v1::POST_STATUS_POSTED);
  EXPECT_EQ(row.post_id(), fake_->posts()[0].id);
  EXPECT_EQ(row.post_text(), fake_->posts()[0].text);
  EXPECT_EQ(row.post_attempts(), 1u);
  // The same detection again (a replay after restart): no new row, no post.
  Insert({d});
  EXPECT_EQ(*poster->RunOnce(), 0);
  EXPECT_EQ(fake_->requests(), 1);
  EXPECT_EQ(fake_->rejected_auth(), 0);
}

// A detection that ended longer ago than the freshness limit is resolved as
// stale and never posted, whatever else holds (here: posting paused); one a
// second inside the limit is posted.
TEST_F(PosterTest, StaleDetectionsAreNeverPostedFreshOnesAre) {
  const absl::Duration limit = absl::Minutes(10);
  const absl::Time now = clock_.Now();
  // TestDetection() ends 25 s after its start.
  const Detection old = TestDetection(now - limit - absl::Seconds(1) - absl::Seconds(25));
  const Detection fresh = TestDetection(now - limit + absl::Seconds(1) - absl::Seconds(25), 55, 58);
  Insert({old, fresh});
  auto poster = NewPoster(client_.get(), limit);
  ASSERT_EQ(*poster->RunOnce(), 2);
  ASSERT_EQ(fake_->posts().size(), 1u);
  const v1::Detection stale_row = Row(old);
  EXPECT_EQ(stale_row.post_status(), v1::POST_STATUS_STALE);
  EXPECT_TRUE(absl::StrContains(stale_row.last_error(), "ISS_PEEBOT_MAX_POST_AGE"))
      << stale_row.last_error();
  EXPECT_EQ(stale_row.post_text(), "");
  EXPECT_EQ(Row(fresh).post_status(), v1::POST_STATUS_POSTED);
  EXPECT_EQ(Row(fresh).post_text(), fake_->posts()[0].text);

  // Paused or not, a stale detection is stale (and a dry run posts nothing).
  Set([](PeeBotSettings& s) { s.paused = true; });
  const Detection old2 = TestDetection(now - absl::Hours(2));
  Insert({old2});
  ASSERT_EQ(*poster->RunOnce(), 1);
  EXPECT_EQ(Row(old2).post_status(), v1::POST_STATUS_STALE);
  EXPECT_EQ(fake_->posts().size(), 1u);
}

// The store side: a detection found after it had already gone stale is
// stored so (never pending), with the reason.
TEST_F(PosterTest, DetectionsStaleWhenFoundAreStoredStale) {
  const absl::Time limit = clock_.Now() - absl::Minutes(10);
  const Detection old = TestDetection(limit - absl::Seconds(26));  // ends 1 s before the limit
  const Detection fresh = TestDetection(limit - absl::Seconds(24), 55, 58);  // ends 1 s after it
  ASSERT_EQ(*store_->CommitBatch("test", {}, {old, fresh}, "{}", {}, limit), 2);
  EXPECT_EQ(Row(old).post_status(), v1::POST_STATUS_STALE);
  EXPECT_EQ(Row(fresh).post_status(), v1::POST_STATUS_PENDING);
  auto pending = store_->Pending(10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].detection.detection_id(), fresh.detection_id);
}

TEST_F(PosterTest, ServerErrorsAreRetriedWithExponentialBackoffAndJitter) {
  fake_->Push(FakeXReply::ServerError(503));
  fake_->Push(FakeXReply::ServerError(500));
  fake_->Push(FakeXReply::ServerError(502));
  const Detection d = TestDetection(kT0);
  Insert({d});
  ASSERT_EQ(*NewPoster(client_.get())->RunOnce(), 1);
  EXPECT_EQ(fake_->statuses(), (std::vector<int>{503, 500, 502, 201}));
  ASSERT_EQ(clock_.sleeps().size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const absl::Duration full = absl::Seconds(2) * (1 << i);  // 2 s, 4 s, 8 s
    EXPECT_GE(clock_.sleeps()[i], full / 2) << i;
    EXPECT_LE(clock_.sleeps()[i], full) << i;
  }
  EXPECT_EQ(Row(d).post_status(), v1::POST_STATUS_POSTED);
  EXPECT_EQ(Row(d).post_attempts(), 4u);
}

TEST_F(PosterTest, GivesUpAfterMaxAttempts) {
  for (int i = 0; i < 5; ++i) fake_->Push(FakeXReply::ServerError(503));
  const Detection d = TestDetection(kT0);
  Insert({d});
  ASSERT_EQ(*NewPoster(client_.get())->RunOnce(), 1);
  EXPECT_EQ(fake_->requests(), 5);
  EXPECT_EQ(Row(d).post_status(), v1::POST_STATUS_FAILED);
  EXPECT_TRUE(absl::StrContains(Row(d).last_error(), "gave up after 5")) << Row(d).last_error();
  EXPECT_TRUE(fake_->posts().empty());
}

TEST_F(PosterTest, RateLimitWaitsUntilTheResetHeader) {
  fake_->Push(FakeXReply::RateLimited(clock_.Now() + absl::Seconds(120)));
  const Detection d = TestDetection(kT0);
  Insert({d});
  auto poster = NewPoster(client_.get());
  ASSERT_EQ(*poster->RunOnce(), 1);
  ASSERT_EQ(clock_.sleeps().size(), 1u);
  EXPECT_EQ(clock_.sleeps()[0], absl::Seconds(121));  // until reset, plus a second of margin
  EXPECT_EQ(fake_->statuses(), (std::vector<int>{429, 201}));
  EXPECT_EQ(Row(d).post_status(), v1::POST_STATUS_POSTED);
  EXPECT_EQ(poster->XHealth(), "ok");
}

TEST_F(PosterTest, LongRateLimitLeavesTheDetectionPending) {
  fake_->Push(FakeXReply::RateLimited(clock_.Now() + absl::Hours(3)));
  const Detection d = TestDetection(kT0);
  Insert({d});
  auto poster = NewPoster(client_.get());
  EXPECT_EQ(*poster->RunOnce(), 0);
  EXPECT_EQ(Row(d).post_status(), v1::POST_STATUS_PENDING);
  EXPECT_EQ(poster->XHealth(), "rate-limited");
  clock_.Advance(absl::Hours(3));
  EXPECT_EQ(*poster->RunOnce(), 1);  // same stored text, sent later
  EXPECT_EQ(Row(d).post_status(), v1::POST_STATUS_POSTED);
  EXPECT_EQ(fake_->posts().size(), 1u);
}

TEST_F(PosterTest, DuplicateContentIsTerminal) {
  fake_->Push(FakeXReply::Duplicate());
  const Detection d = TestDetection(kT0);
  Insert({d});
  ASSERT_EQ(*NewPoster(client_.get())->RunOnce(), 1);
  EXPECT_EQ(fake_->requests(), 1);
  EXPECT_EQ(Row(d).post_status(), v1::POST_STATUS_DUPLICATE);
}

TEST_F(PosterTest, UnauthorisedIsTerminalNotRetried) {
  auto wrong =
      XClient::Create({fake_->base_url(), {"ck", "cs", "tk", "WRONG"}, absl::Seconds(5), ""});
  ASSERT_TRUE(wrong.ok());
  const Detection d = TestDetection(kT0);
  Insert({d});
  auto poster = NewPoster(wrong->get());
  std::vector<std::string> changes;
  poster->OnHealthChange([&](const std::string& h) { changes.push_back(h); });
  ASSERT_EQ(*poster->RunOnce(), 1);
  EXPECT_EQ(changes, std::vector<std::string>{"failing"});
  EXPECT_EQ(fake_->requests(), 1);
  EXPECT_EQ(Row(d).post_status(), v1::POST_STATUS_FAILED);
  EXPECT_EQ(poster->XHealth(), "failing");
}

TEST_F(PosterTest, TimeoutThenDuplicateMeansTheFirstAttemptWasPosted) {
  auto slow_client = XClient::Create({fake_->base_url(), kCreds, absl::Milliseconds(150), ""});
  ASSERT_TRUE(slow_client.ok());
  FakeXReply lost;  // X posts it, but the answer never arrives in time
  lost.delay = absl::Milliseconds(600);
  lost.accept_anyway = true;
  fake_->Push(lost);
  const Detection d = TestDetection(kT0);
  Insert({d});
  ASSERT_EQ(*NewPoster(slow_client->get())->RunOnce(), 1);
  EXPECT_EQ(fake_->posts().size(), 1u);
  EXPECT_EQ(fake_->statuses().back(), 403);
  EXPECT_EQ(Row(d).post_status(), v1::POST_STATUS_POSTED);
}

TEST_F(PosterTest, CooldownRecordsAndFoldsIntoTheNextPost) {
  Set([](PeeBotSettings& s) { s.cooldown = absl::Minutes(15); });
  const Detection a = TestDetection(kT0), b = TestDetection(kT0 + absl::Minutes(5), 55, 58);
  Insert({a, b});
  auto poster = NewPoster(client_.get());
  ASSERT_EQ(*poster->RunOnce(), 2);
  EXPECT_EQ(Row(a).post_status(), v1::POST_STATUS_POSTED);
  EXPECT_EQ(Row(b).post_status(), v1::POST_STATUS_COOLDOWN);
  EXPECT_GT(*poster->CooldownRemaining(), absl::Minutes(14));
  // Wall time passes, and the next detection is outside the event-time cooldown.
  clock_.Advance(absl::Minutes(16));
  const Detection c = TestDetection(kT0 + absl::Minutes(30), 58, 61);
  Insert({c});
  ASSERT_EQ(*poster->RunOnce(), 1);
  EXPECT_EQ(Row(c).post_status(), v1::POST_STATUS_POSTED);
  ASSERT_EQ(fake_->posts().size(), 2u);
  EXPECT_TRUE(absl::StrContains(fake_->posts()[1].text, "+1 more since the last post"))
      << fake_->posts()[1].text;
  EXPECT_NE(fake_->posts()[0].text, fake_->posts()[1].text);
}

TEST_F(PosterTest, EventTimeCooldownHoldsDuringAReplayBacklog) {
  Set([](PeeBotSettings& s) { s.cooldown = absl::Minutes(15); });
  const Detection a = TestDetection(kT0);
  Insert({a});
  auto poster = NewPoster(client_.get());
  ASSERT_EQ(*poster->RunOnce(), 1);
  clock_.Advance(absl::Hours(1));  // wall cooldown over, but in event time...
  const Detection b = TestDetection(kT0 + absl::Minutes(3), 55, 58);
  Insert({b});
  ASSERT_EQ(*poster->RunOnce(), 1);
  EXPECT_EQ(Row(b).post_status(), v1::POST_STATUS_COOLDOWN);  // ...it is 3 min after a
}

TEST_F(PosterTest, DailyCapStopsPostingForTheDay) {
  Set([](PeeBotSettings& s) { s.daily_post_cap = 2; });
  std::vector<Detection> dets;
  for (int i = 0; i < 3; ++i)
    dets.push_back(TestDetection(kT0 + absl::Minutes(20 * i), 50 + 3 * i, 53 + 3 * i));
  Insert(dets);
  ASSERT_EQ(*NewPoster(client_.get())->RunOnce(), 3);
  EXPECT_EQ(fake_->posts().size(), 2u);
  EXPECT_EQ(Row(dets[2]).post_status(), v1::POST_STATUS_DAILY_CAP);
  // A new UTC day resets the count.
  clock_.Advance(absl::Hours(24));
  const Detection next = TestDetection(kT0 + absl::Hours(24));
  Insert({next});
  ASSERT_EQ(*NewPoster(client_.get())->RunOnce(), 1);
  EXPECT_EQ(Row(next).post_status(), v1::POST_STATUS_POSTED);
}

TEST_F(PosterTest, PausedDetectionsAreRecordedNotPosted) {
  Set([](PeeBotSettings& s) { s.paused = true; });
  const Detection d = TestDetection(kT0);
  Insert({d});
  ASSERT_EQ(*NewPoster(client_.get())->RunOnce(), 1);
  EXPECT_EQ(Row(d).post_status(), v1::POST_STATUS_PAUSED);
  EXPECT_EQ(fake_->requests(), 0);
}

TEST_F(PosterTest, NoCredentialsMeansDryRun) {
  RuntimeSettings no_creds(settings_->Get(), false);
  PosterOptions o;
  o.max_post_age = absl::ZeroDuration();  // d ended an hour before the clock
  Poster poster(store_.get(), nullptr, &no_creds, &clock_, o);
  const Detection d = TestDetection(kT0);
  Insert({d});
  ASSERT_EQ(*poster.RunOnce(), 1);
  EXPECT_EQ(Row(d).post_status(), v1::POST_STATUS_DRY_RUN);
  EXPECT_FALSE(Row(d).post_text().empty());
  EXPECT_EQ(fake_->requests(), 0);
  EXPECT_EQ(poster.XHealth(), "unconfigured");
  auto stats = store_->Stats(clock_.Now(), /*dry_run=*/true);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->posts_today, 1);
}

// Restart mid-post, case 1: the first instance sent the post and died before
// recording the outcome. A second instance on the same database re-sends the
// same text; X refuses the copy; exactly one post exists.
TEST_F(PosterTest, NoDoublePostWhenTheFirstInstanceDiedAfterSending) {
  const Detection d = TestDetection(kT0);
  Insert({d});
  {
    // The first instance's steps up to its death: text fixed and row marked
    // in flight (MarkInFlight), then the HTTP call, then nothing.
    ASSERT_TRUE(store_->MarkInFlight(d.detection_id, "Tank +5% at 12:00 UTC", clock_.Now()).ok());
    ASSERT_EQ(client_->CreatePost("Tank +5% at 12:00 UTC")->http_status, 201);
  }
  Store second_store(dsn_);
  Poster second(&second_store, client_.get(), settings_.get(), &clock_);
  ASSERT_EQ(*second.RunOnce(), 1);
  EXPECT_EQ(fake_->posts().size(), 1u);
  EXPECT_EQ(fake_->statuses(), (std::vector<int>{201, 403}));
  EXPECT_EQ(Row(d).post_status(), v1::POST_STATUS_POSTED);
  EXPECT_EQ(*second.RunOnce(), 0);
  EXPECT_EQ(fake_->requests(), 2);
}

// Case 2: it died after marking in flight but before the request left.
TEST_F(PosterTest, InterruptedBeforeSendingIsPostedOnceAfterRestart) {
  const Detection d = TestDetection(kT0);
  Insert({d});
  ASSERT_TRUE(store_->MarkInFlight(d.detection_id, "Tank +5% at 12:00 UTC", clock_.Now()).ok());
  Store second_store(dsn_);
  Poster second(&second_store, client_.get(), settings_.get(), &clock_);
  ASSERT_EQ(*second.RunOnce(), 1);
  ASSERT_EQ(fake_->posts().size(), 1u);
  EXPECT_EQ(fake_->posts()[0].text, "Tank +5% at 12:00 UTC");
  EXPECT_EQ(Row(d).post_status(), v1::POST_STATUS_POSTED);
}

// The value of one sample line of the exposition, e.g.
// iss_peebot_posts_total{destination="x",outcome="posted"}; 0 when absent.
double Metric(const std::string& series) {
  const std::string text = iss::metrics::Serialize();
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(at + series.size() + 2));
}

TEST_F(PosterTest, MetricsCountOutcomesRetriesAndCooldownSkips) {
  const double posted = Metric(R"(iss_peebot_posts_total{destination="x",outcome="posted"})");
  const double cooldown = Metric(R"(iss_peebot_posts_total{destination="x",outcome="cooldown"})");
  const double retries = Metric("iss_peebot_post_retries_total");
  const double skips = Metric("iss_peebot_cooldown_skips_total");
  const double calls = Metric("iss_peebot_x_api_request_seconds_count");
  Set([](PeeBotSettings& s) { s.cooldown = absl::Minutes(15); });
  fake_->Push(FakeXReply::ServerError(503));
  Insert({TestDetection(kT0), TestDetection(kT0 + absl::Minutes(1), 55, 57)});
  ASSERT_EQ(*NewPoster(client_.get())->RunOnce(), 2);
  EXPECT_EQ(Metric(R"(iss_peebot_posts_total{destination="x",outcome="posted"})"), posted + 1);
  EXPECT_EQ(Metric(R"(iss_peebot_posts_total{destination="x",outcome="cooldown"})"), cooldown + 1);
  EXPECT_EQ(Metric("iss_peebot_post_retries_total"), retries + 1);
  EXPECT_EQ(Metric("iss_peebot_cooldown_skips_total"), skips + 1);
  EXPECT_EQ(Metric("iss_peebot_x_api_request_seconds_count"), calls + 2);
}

TEST_F(PosterTest, TestPostIsDryRunUnlessForced) {
  auto poster = NewPoster(client_.get());
  auto dry = poster->PostTest("", false);
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ(dry->outcome, "dry-run");
  EXPECT_EQ(fake_->requests(), 0);
  auto real = poster->PostTest("hello from the test", true);
  ASSERT_TRUE(real.ok());
  EXPECT_EQ(real->outcome, "posted");
  ASSERT_EQ(fake_->posts().size(), 1u);
  EXPECT_EQ(real->post_id, fake_->posts()[0].id);
  EXPECT_EQ(poster->PostTest(std::string(281, 'x'), true).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace iss::peebot
