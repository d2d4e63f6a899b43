// The destination posters against the real pieces: a throwaway PostgreSQL
// with the real migrations, the real Bluesky, Mastodon and webhook clients,
// and the fakes speaking each protocol over real sockets. Only wall time is
// simulated (ManualClock): backoff and rate-limit waits are stepped through.
#include "services/peebot/destinations.h"

#include <map>
#include <memory>
#include <set>
#include <vector>

#include "absl/strings/match.h"
#include "common/grpc_util.h"
#include "common/metrics.h"
#include "gtest/gtest.h"
#include "services/peebot/store.h"
#include "services/peebot/testing/fake_bluesky_server.h"
#include "services/peebot/testing/fake_mastodon_server.h"
#include "services/peebot/testing/fake_webhook_receiver.h"
#include "services/peebot/testing/fake_x_server.h"
#include "services/peebot/testing/manual_clock.h"
#include "services/peebot/tid.h"
#include "tests/support/pg_server.h"

namespace iss::peebot {
namespace {

using testing::FakeBlueskyServer;
using testing::FakeMastodonServer;
using testing::FakeReply;
using testing::FakeWebhookReceiver;
using testing::ManualClock;
using testing::TestDetection;

const absl::Time kT0 = absl::FromUnixSeconds(1768046400);  // 2026-01-10T12:00Z
constexpr char kSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

// Mastodon unreachable (nothing listens) until switched back: the network
// being down, seen through the real client.
class SwitchableMastodon final : public MastodonApi {
 public:
  SwitchableMastodon(MastodonApi* up, MastodonApi* down) : up_(up), down_(down) {}
  absl::StatusOr<MastodonResult> PostStatus(const MastodonStatusRequest& r) override {
    return (is_down ? down_ : up_)->PostStatus(r);
  }
  bool is_down = false;

 private:
  MastodonApi* up_;
  MastodonApi* down_;
};

const std::vector<std::string> kAll = {"bluesky", "mastodon", "webhook"};

class DestinationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dsn_ = iss::testing::FreshDatabaseDsn();
    ASSERT_FALSE(dsn_.empty());
    store_ = std::make_unique<Store>(dsn_);
    ASSERT_TRUE(store_->Migrate().ok());
    auto bsky = FakeBlueskyServer::Start();
    ASSERT_TRUE(bsky.ok()) << bsky.status();
    bsky_ = std::move(*bsky);
    auto masto = FakeMastodonServer::Start();
    ASSERT_TRUE(masto.ok()) << masto.status();
    masto_ = std::move(*masto);
    FakeWebhookReceiver::Options wo;
    wo.secrets = {kSecret};
    auto hook = FakeWebhookReceiver::Start(wo);
    ASSERT_TRUE(hook.ok()) << hook.status();
    hook_ = std::move(*hook);
    PeeBotSettings s;
    s.cooldown = absl::ZeroDuration();
    settings_ = std::make_unique<RuntimeSettings>(s, true);
    Connect();
  }

  // New clients, networks and posters on fresh connections: what a restarted
  // process has (the database and the networks keep their state).
  void Connect(const std::string& bsky_password = testing::FakeBlueskyAccount{}.password,
               const std::string& masto_token = testing::FakeMastodonAccount{}.token,
               const std::string& hook_secret = kSecret) {
    posters_.clear();
    networks_.clear();
    stores_.clear();
    auto b = BlueskyClient::Create({bsky_->base_url(), testing::FakeBlueskyAccount{}.handle,
                                    bsky_password, absl::Seconds(5), ""});
    ASSERT_TRUE(b.ok()) << b.status();
    bsky_client_ = std::move(*b);
    auto m = MastodonClient::Create({masto_->base_url(), masto_token, absl::Seconds(5), ""});
    ASSERT_TRUE(m.ok()) << m.status();
    masto_client_ = std::move(*m);
    // Port 1 on loopback: nothing listens, the connection is refused.
    auto dead = MastodonClient::Create({"http://127.0.0.1:1", masto_token, absl::Seconds(5), ""});
    ASSERT_TRUE(dead.ok()) << dead.status();
    masto_dead_ = std::move(*dead);
    masto_switch_ = std::make_unique<SwitchableMastodon>(masto_client_.get(), masto_dead_.get());
    WebhookOptions wo;
    wo.url = hook_->url();
    wo.secrets = {hook_secret};
    auto w = WebhookClient::Create(wo);
    ASSERT_TRUE(w.ok()) << w.status();
    hook_client_ = std::move(*w);
    networks_["bluesky"] = MakeBlueskyNetwork(bsky_client_.get());
    networks_["mastodon"] = MakeMastodonNetwork(masto_switch_.get());
    networks_["webhook"] = MakeWebhookNetwork(hook_client_.get());
    for (const std::string& name : kAll) AddPoster(name, options_);
  }
  void AddPoster(const std::string& name, DestinationOptions o) {
    o.name = name;
    o.destinations = kAll;
    stores_[name] = std::make_unique<Store>(dsn_);
    posters_[name] = std::make_unique<DestinationPoster>(stores_[name].get(), networks_[name].get(),
                                                         settings_.get(), &clock_, o, composer_);
  }
  void Reconfigure(std::function<void(DestinationOptions&)> f) {
    f(options_);
    for (const std::string& name : kAll) AddPoster(name, options_);
  }

  void Insert(const std::vector<Detection>& dets) {
    auto n = store_->CommitBatch("test", {}, dets, "{}", {});
    ASSERT_TRUE(n.ok()) << n.status();
  }
  // Every poster once; returns the resolved count of each.
  std::map<std::string, int> RunAll() {
    std::map<std::string, int> out;
    for (const std::string& name : kAll) {
      auto n = posters_[name]->RunOnce();
      EXPECT_TRUE(n.ok()) << name << ": " << n.status();
      out[name] = n.ok() ? *n : -1;
    }
    return out;
  }
  v1::Delivery DeliveryOf(const Detection& d, const std::string& dest) {
    auto r = store_->Get(d.detection_id);
    EXPECT_TRUE(r.ok() && r->has_value());
    if (!r.ok() || !r->has_value()) return {};
    for (const v1::Delivery& v : (*r)->deliveries()) {
      if (v.destination() == dest) return v;
    }
    ADD_FAILURE() << "no delivery to " << dest;
    return {};
  }
  int WebhookProcessed() { return static_cast<int>(hook_->processed().size()); }

  std::string dsn_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<FakeBlueskyServer> bsky_;
  std::unique_ptr<FakeMastodonServer> masto_;
  std::unique_ptr<FakeWebhookReceiver> hook_;
  std::unique_ptr<BlueskyClient> bsky_client_;
  std::unique_ptr<MastodonClient> masto_client_, masto_dead_;
  std::unique_ptr<SwitchableMastodon> masto_switch_;
  std::unique_ptr<WebhookClient> hook_client_;
  std::map<std::string, std::unique_ptr<Network>> networks_;
  std::map<std::string, std::unique_ptr<Store>> stores_;
  std::map<std::string, std::unique_ptr<DestinationPoster>> posters_;
  std::unique_ptr<RuntimeSettings> settings_;
  DestinationOptions options_ = [] {
    DestinationOptions o;
    o.max_post_age = absl::ZeroDuration();  // detections end an hour before the clock
    return o;
  }();
  PostComposer composer_;
  ManualClock clock_{kT0 + absl::Hours(1)};
};

TEST_F(DestinationsTest, EachNetworkGetsTheDetectionOnceInItsOwnTerms) {
  const Detection d = TestDetection(kT0);
  Insert({d});
  EXPECT_EQ(RunAll(),
            (std::map<std::string, int>{{"bluesky", 1}, {"mastodon", 1}, {"webhook", 1}}));
  ASSERT_EQ(bsky_->posts().size(), 1u);
  ASSERT_EQ(masto_->statuses().size(), 1u);
  ASSERT_EQ(hook_->processed().size(), 1u);
  // Bluesky: the detection's deterministic TID as record key.
  EXPECT_EQ(bsky_->posts()[0].rkey, *DetectionRecordKey(d.detection_id, d.start_time));
  EXPECT_EQ(DeliveryOf(d, "bluesky").post_id(), bsky_->posts()[0].uri);
  EXPECT_EQ(DeliveryOf(d, "bluesky").text(), bsky_->posts()[0].text);
  // Mastodon: the detection's Idempotency-Key.
  EXPECT_EQ(masto_->statuses()[0].idempotency_key, MastodonIdempotencyKey(d.detection_id));
  EXPECT_EQ(DeliveryOf(d, "mastodon").post_id(), masto_->statuses()[0].id);
  // Webhook: signed (the receiver verifies), the detection's webhook-id.
  EXPECT_EQ(hook_->processed()[0].webhook_id, WebhookId(d.detection_id));
  EXPECT_EQ(hook_->rejected(), 0);
  for (const std::string& name : kAll) {
    EXPECT_EQ(DeliveryOf(d, name).status(), v1::POST_STATUS_POSTED) << name;
    EXPECT_EQ(DeliveryOf(d, name).attempts(), 1u) << name;
  }
  // Nothing pending: another round (and a replay of the detection) sends nothing.
  Insert({d});
  EXPECT_EQ(RunAll(),
            (std::map<std::string, int>{{"bluesky", 0}, {"mastodon", 0}, {"webhook", 0}}));
  EXPECT_EQ(bsky_->calls(kXrpcCreateRecord), 1);
  EXPECT_EQ(masto_->requests(), 1);
  EXPECT_EQ(hook_->deliveries().size(), 1u);
}

// The process died after the network took the post and before the outcome
// was recorded (the answer never came back): after the restart each network
// still has exactly one post.
TEST_F(DestinationsTest, CrashBetweenSendAndRecordLeavesExactlyOnePostPerNetwork) {
  const Detection d = TestDetection(kT0);
  Insert({d});
  bsky_->Push(kXrpcCreateRecord, FakeReply::AcceptThenDrop());
  masto_->Push(FakeReply::AcceptThenDrop());
  hook_->Push(FakeReply::AcceptThenDrop());
  EXPECT_EQ(RunAll(),
            (std::map<std::string, int>{{"bluesky", 0}, {"mastodon", 0}, {"webhook", 0}}));
  ASSERT_EQ(bsky_->posts().size(), 1u);
  ASSERT_EQ(masto_->statuses().size(), 1u);
  ASSERT_EQ(hook_->processed().size(), 1u);
  for (const std::string& name : kAll) {
    EXPECT_EQ(DeliveryOf(d, name).status(), v1::POST_STATUS_PENDING) << name;
  }

  Connect();                          // restart: new clients, sessions and connections
  clock_.Advance(absl::Seconds(31));  // past the backoff and Mastodon's re-send delay
  EXPECT_EQ(RunAll(),
            (std::map<std::string, int>{{"bluesky", 1}, {"mastodon", 1}, {"webhook", 1}}));
  // Bluesky asked getRecord instead of creating the record again.
  EXPECT_EQ(bsky_->calls(kXrpcCreateRecord), 1);
  EXPECT_EQ(bsky_->calls(kXrpcGetRecord), 1);
  EXPECT_EQ(bsky_->posts().size(), 1u);
  // Mastodon answered the same Idempotency-Key with the first status.
  EXPECT_EQ(masto_->requests(), 2);
  EXPECT_EQ(masto_->statuses().size(), 1u);
  EXPECT_EQ(DeliveryOf(d, "mastodon").post_id(), masto_->statuses()[0].id);
  // The webhook receiver got the same webhook-id twice and acted once.
  EXPECT_EQ(hook_->deliveries().size(), 2u);
  EXPECT_EQ(WebhookProcessed(), 1);
  EXPECT_EQ(hook_->deliveries()[0].body, hook_->deliveries()[1].body);
  for (const std::string& name : kAll) {
    EXPECT_EQ(DeliveryOf(d, name).status(), v1::POST_STATUS_POSTED) << name;
  }
}

// The process died after marking the delivery in flight and before the
// request left: after the restart each network gets the post, once.
TEST_F(DestinationsTest, CrashBeforeTheRequestLeftPostsOnceAfterRestart) {
  const Detection d = TestDetection(kT0);
  Insert({d});
  Store::AdmissionRules rules;
  rules.now = clock_.Now();
  rules.destinations = kAll;
  ASSERT_TRUE(store_->Admit(rules).ok());
  for (const std::string& name : kAll) {
    auto due = store_->DueDeliveries(name, clock_.Now(), 10);
    ASSERT_TRUE(due.ok() && due->size() == 1u);
    Store::DeliveryRow row = (*due)[0];
    auto prepared =
        networks_[name]->Prepare(d, "Urine tank +5% (sent by a process that died)", clock_.Now());
    ASSERT_TRUE(prepared.ok());
    row.text = "Urine tank +5% (sent by a process that died)";
    row.idempotency_key = prepared->idempotency_key;
    row.request = prepared->request;
    ASSERT_TRUE(store_->MarkDeliveryInFlight(row, clock_.Now()).ok());
  }
  Connect();
  clock_.Advance(absl::Seconds(31));
  EXPECT_EQ(RunAll(),
            (std::map<std::string, int>{{"bluesky", 1}, {"mastodon", 1}, {"webhook", 1}}));
  ASSERT_EQ(bsky_->posts().size(), 1u);
  EXPECT_EQ(bsky_->posts()[0].text, "Urine tank +5% (sent by a process that died)");
  EXPECT_EQ(bsky_->calls(kXrpcGetRecord), 1);  // asked first: RecordNotFound
  ASSERT_EQ(masto_->statuses().size(), 1u);
  EXPECT_EQ(masto_->statuses()[0].text, "Urine tank +5% (sent by a process that died)");
  EXPECT_EQ(WebhookProcessed(), 1);
}

// A delivery in flight when the process died, found again only after the
// detection went stale: Bluesky looks the record up and, as the first attempt
// never landed, creates nothing; the others re-send idempotently (their first
// attempt was fresh and may have landed).
TEST_F(DestinationsTest, InFlightPastTheFreshnessLimitBlueskyLooksAndCreatesNothing) {
  const Detection d = TestDetection(kT0);
  Insert({d});
  Store::AdmissionRules rules;
  rules.now = clock_.Now();
  rules.destinations = kAll;
  ASSERT_TRUE(store_->Admit(rules).ok());
  for (const std::string& name : kAll) {
    auto due = store_->DueDeliveries(name, clock_.Now(), 10);
    ASSERT_TRUE(due.ok() && due->size() == 1u);
    Store::DeliveryRow row = (*due)[0];
    row.text = "Urine tank +5%";
    auto prepared = networks_[name]->Prepare(d, row.text, clock_.Now());
    ASSERT_TRUE(prepared.ok());
    row.idempotency_key = prepared->idempotency_key;
    row.request = prepared->request;
    ASSERT_TRUE(store_->MarkDeliveryInFlight(row, clock_.Now()).ok());
  }
  // The detection ended an hour before the clock: past a 10 minute limit.
  Reconfigure([](DestinationOptions& o) { o.max_post_age = absl::Minutes(10); });
  clock_.Advance(absl::Seconds(31));
  RunAll();
  EXPECT_EQ(bsky_->calls(kXrpcGetRecord), 1);
  EXPECT_EQ(bsky_->calls(kXrpcCreateRecord), 0);
  const v1::Delivery b = DeliveryOf(d, "bluesky");
  EXPECT_EQ(b.status(), v1::POST_STATUS_STALE);
  EXPECT_TRUE(absl::StrContains(b.last_error(), "RecordNotFound")) << b.last_error();
  EXPECT_EQ(DeliveryOf(d, "mastodon").status(), v1::POST_STATUS_POSTED);
  EXPECT_EQ(DeliveryOf(d, "webhook").status(), v1::POST_STATUS_POSTED);
}

// An outcome that stays unknown (the receiver keeps answering 500) is retried
// for an hour after the first attempt, then recorded as failed, saying so.
TEST_F(DestinationsTest, AnOutcomeUnknownForAnHourIsRecordedFailed) {
  const Detection d = TestDetection(kT0);
  Insert({d});
  hook_->Push(FakeReply::ServerError(500));
  hook_->Push(FakeReply::ServerError(500));
  RunAll();
  EXPECT_EQ(DeliveryOf(d, "webhook").status(), v1::POST_STATUS_PENDING);
  clock_.Advance(absl::Minutes(61));
  RunAll();
  const v1::Delivery v = DeliveryOf(d, "webhook");
  EXPECT_EQ(v.status(), v1::POST_STATUS_FAILED);
  EXPECT_TRUE(absl::StrContains(v.last_error(), "outcome unknown")) << v.last_error();
  EXPECT_EQ(v.attempts(), 2u);
  EXPECT_EQ(DeliveryOf(d, "bluesky").status(), v1::POST_STATUS_POSTED);
}

// X's poster takes the same per-detection decision (cooldown) as the others,
// and a pause of "x" alone stops X while the others post.
TEST_F(DestinationsTest, XSharesTheCooldownDecisionAndPausesAlone) {
  const OAuthCredentials creds{"ck", "cs", "tk", "ts"};
  auto fake_x = testing::FakeXServer::Start(creds);
  ASSERT_TRUE(fake_x.ok()) << fake_x.status();
  auto x_client = XClient::Create({(*fake_x)->base_url(), creds, absl::Seconds(5), ""});
  ASSERT_TRUE(x_client.ok());
  PosterOptions xo;
  xo.max_post_age = absl::ZeroDuration();
  xo.shared_admission = true;
  xo.destinations = {"x", "bluesky", "mastodon", "webhook"};
  Store x_store(dsn_);
  Poster x(&x_store, x_client->get(), settings_.get(), &clock_, xo);
  PeeBotSettings s = settings_->Get();
  s.cooldown = absl::Minutes(15);
  settings_->Set(s);
  const Detection a = TestDetection(kT0), b = TestDetection(kT0 + absl::Minutes(5), 55, 57),
                  c = TestDetection(kT0 + absl::Minutes(20), 57, 60);
  Insert({a, b, c});
  RunAll();  // a destination decides first
  ASSERT_TRUE(x.RunOnce().ok());
  EXPECT_EQ(store_->Get(b.detection_id)->value().post_status(), v1::POST_STATUS_COOLDOWN);
  EXPECT_EQ(store_->Get(c.detection_id)->value().post_status(), v1::POST_STATUS_POSTED);
  ASSERT_EQ((*fake_x)->posts().size(), 2u);
  EXPECT_EQ(bsky_->posts().size(), 2u);
  // The post after the cooldown folds b on X too.
  EXPECT_TRUE(absl::StrContains((*fake_x)->posts()[1].text, "+1 more"))
      << (*fake_x)->posts()[1].text;

  ASSERT_TRUE(store_->SetDestinationPaused("x", true, "X tier change").ok());
  const Detection e = TestDetection(kT0 + absl::Minutes(40), 60, 63);
  Insert({e});
  ASSERT_TRUE(x.RunOnce().ok());
  RunAll();
  const v1::Detection row = store_->Get(e.detection_id)->value();
  EXPECT_EQ(row.post_status(), v1::POST_STATUS_PAUSED);
  EXPECT_TRUE(absl::StrContains(row.last_error(), "X tier change")) << row.last_error();
  EXPECT_EQ((*fake_x)->posts().size(), 2u);
  EXPECT_EQ(DeliveryOf(e, "bluesky").status(), v1::POST_STATUS_POSTED);
}

// Mastodon is unreachable for an hour while detections come every 15
// minutes: Bluesky and the webhook post each on time; Mastodon, back after
// the hour, posts what is still fresh and resolves the rest as stale.
TEST_F(DestinationsTest, OneDestinationDownForAnHourDoesNotHoldUpTheOthers) {
  Reconfigure([](DestinationOptions& o) { o.max_post_age = absl::Minutes(10); });
  const absl::Time start = kT0;
  clock_.Set(start);
  std::vector<Detection> dets;
  for (int i = 0; i <= 4; ++i)
    dets.push_back(TestDetection(start + absl::Minutes(15 * i) + absl::Minutes(1), 50 + i, 53 + i));
  masto_switch_->is_down = true;
  size_t inserted = 0;
  // Minute by minute: a detection is stored when it ends; every poster runs.
  for (int minute = 0; minute <= 66; ++minute) {
    clock_.Set(start + absl::Minutes(minute));
    if (minute == 62) masto_switch_->is_down = false;
    while (inserted < dets.size() && dets[inserted].end_time <= clock_.Now()) {
      Insert({dets[inserted++]});
    }
    RunAll();
  }
  ASSERT_EQ(inserted, dets.size());
  ASSERT_EQ(bsky_->posts().size(), dets.size());
  ASSERT_EQ(WebhookProcessed(), static_cast<int>(dets.size()));
  for (const Detection& d : dets) {
    for (const char* name : {"bluesky", "webhook"}) {
      const v1::Delivery v = DeliveryOf(d, name);
      EXPECT_EQ(v.status(), v1::POST_STATUS_POSTED) << name;
      // On time: within a minute of the detection's end.
      EXPECT_LE(iss::FromProto(v.posted_at()) - d.end_time, absl::Minutes(1)) << name;
    }
  }
  // Mastodon: the first four went stale during the outage; the last one
  // (fresh when it came back) is posted.
  ASSERT_EQ(masto_->statuses().size(), 1u);
  for (size_t i = 0; i + 1 < dets.size(); ++i) {
    const v1::Delivery v = DeliveryOf(dets[i], "mastodon");
    EXPECT_EQ(v.status(), v1::POST_STATUS_STALE) << i;
    EXPECT_TRUE(absl::StrContains(v.last_error(), "ISS_PEEBOT_MAX_POST_AGE")) << v.last_error();
    EXPECT_GE(v.attempts(), 1u) << i;  // it was tried while down
  }
  const v1::Delivery last = DeliveryOf(dets.back(), "mastodon");
  EXPECT_EQ(last.status(), v1::POST_STATUS_POSTED);
  EXPECT_EQ(last.post_id(), masto_->statuses()[0].id);
  EXPECT_LE(iss::FromProto(last.posted_at()), dets.back().end_time + absl::Minutes(10));
  EXPECT_EQ(posters_["mastodon"]->Health(), "ok");
}

TEST_F(DestinationsTest, UnauthorisedIsTerminalForThatNetworkOnly) {
  for (const std::string& bad : kAll) {
    SCOPED_TRACE(bad);
    SetUp();
    Connect(bad == "bluesky" ? "wrong-password" : testing::FakeBlueskyAccount{}.password,
            bad == "mastodon" ? "wrong-token" : testing::FakeMastodonAccount{}.token,
            bad == "webhook" ? "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" : kSecret);
    const Detection d = TestDetection(kT0);
    Insert({d});
    RunAll();
    for (const std::string& name : kAll) {
      const v1::Delivery v = DeliveryOf(d, name);
      if (name == bad) {
        EXPECT_EQ(v.status(), v1::POST_STATUS_FAILED) << name;
        EXPECT_TRUE(absl::StrContains(v.last_error(), "401")) << v.last_error();
        EXPECT_EQ(posters_[name]->Health(), "failing");
      } else {
        EXPECT_EQ(v.status(), v1::POST_STATUS_POSTED) << name;
      }
    }
    // Not retried.
    clock_.Advance(absl::Hours(1));
    RunAll();
    EXPECT_EQ(DeliveryOf(d, bad).attempts(), 1u);
  }
}

TEST_F(DestinationsTest, RateLimitWaitsForTheNetworksResetAndDoesNotCountAsFailure) {
  const Detection d = TestDetection(kT0);
  Insert({d});
  // The PDS sends RateLimit-Reset (wall time) and Retry-After (relative): the
  // poster follows Retry-After on its own clock.
  bsky_->Push(kXrpcCreateRecord, FakeReply::RateLimited(absl::Now() + absl::Seconds(120)));
  masto_->Push(FakeReply::RateLimited(clock_.Now() + absl::Minutes(5)));
  hook_->Push(FakeReply::RateLimitedFor(60));
  EXPECT_EQ(RunAll(),
            (std::map<std::string, int>{{"bluesky", 0}, {"mastodon", 0}, {"webhook", 0}}));
  for (const std::string& name : kAll) {
    EXPECT_EQ(posters_[name]->Health(), "rate-limited") << name;
    EXPECT_TRUE(absl::StrContains(DeliveryOf(d, name).last_error(), "429"))
        << DeliveryOf(d, name).last_error();
  }
  // Before each reset nothing is sent again.
  clock_.Advance(absl::Seconds(59));
  RunAll();
  EXPECT_EQ(hook_->answers().size(), 1u);
  EXPECT_EQ(bsky_->calls(kXrpcCreateRecord), 1);
  EXPECT_EQ(masto_->requests(), 1);
  clock_.Advance(absl::Seconds(3));  // webhook's Retry-After passed
  RunAll();
  EXPECT_EQ(WebhookProcessed(), 1);
  EXPECT_EQ(bsky_->calls(kXrpcCreateRecord), 1);
  clock_.Advance(absl::Seconds(60));  // Bluesky's Retry-After passed
  RunAll();
  EXPECT_EQ(bsky_->posts().size(), 1u);
  EXPECT_EQ(bsky_->calls(kXrpcGetRecord), 0);  // a 429 created nothing: no need to ask
  EXPECT_EQ(masto_->requests(), 1);
  clock_.Advance(absl::Minutes(4));  // Mastodon's X-RateLimit-Reset passed
  RunAll();
  EXPECT_EQ(masto_->statuses().size(), 1u);
  for (const std::string& name : kAll) {
    EXPECT_EQ(DeliveryOf(d, name).status(), v1::POST_STATUS_POSTED) << name;
    EXPECT_EQ(posters_[name]->Health(), "ok") << name;
  }
}

TEST_F(DestinationsTest, ServerErrorsAreRetriedWithBackoffWithoutDuplicates) {
  const Detection d = TestDetection(kT0);
  Insert({d});
  // 500 from the PDS may mean the record was made: the retry asks first.
  FakeReply made = FakeReply::ServerError(500);
  made.accept_anyway = true;
  bsky_->Push(kXrpcCreateRecord, made);
  masto_->Push(FakeReply::ServerError(503));
  masto_->Push(FakeReply::ServerError(502));
  hook_->Push(FakeReply::ServerError(503));
  RunAll();
  for (const std::string& name : kAll) {
    EXPECT_EQ(DeliveryOf(d, name).status(), v1::POST_STATUS_PENDING) << name;
    EXPECT_EQ(posters_[name]->Health(), "failing") << name;
  }
  // Backoff: base 2 s, equal jitter -> the retry is due within 1..2 s.
  clock_.Advance(absl::Milliseconds(900));
  RunAll();
  EXPECT_EQ(hook_->answers().size(), 1u);
  clock_.Advance(absl::Seconds(31));
  RunAll();
  EXPECT_EQ(DeliveryOf(d, "bluesky").status(), v1::POST_STATUS_POSTED);
  EXPECT_EQ(bsky_->posts().size(), 1u);
  EXPECT_EQ(bsky_->calls(kXrpcCreateRecord), 1);
  EXPECT_EQ(bsky_->calls(kXrpcGetRecord), 1);
  EXPECT_EQ(DeliveryOf(d, "webhook").status(), v1::POST_STATUS_POSTED);
  EXPECT_EQ(WebhookProcessed(), 1);
  // Mastodon's second attempt met the 502; the third (after 2-4 s more) posts.
  clock_.Advance(absl::Seconds(5));
  RunAll();
  EXPECT_EQ(DeliveryOf(d, "mastodon").status(), v1::POST_STATUS_POSTED);
  EXPECT_EQ(masto_->statuses().size(), 1u);
  EXPECT_EQ(DeliveryOf(d, "mastodon").attempts(), 3u);
}

TEST_F(DestinationsTest, CooldownIsDecidedOncePerDetectionAndFoldedEverywhere) {
  settings_->Set([] {
    PeeBotSettings s;
    s.cooldown = absl::Minutes(15);
    return s;
  }());
  const Detection a = TestDetection(kT0), b = TestDetection(kT0 + absl::Minutes(5), 55, 57),
                  c = TestDetection(kT0 + absl::Minutes(20), 57, 60);
  Insert({a, b, c});
  RunAll();
  auto adm = store_->AdmissionOf(b.detection_id);
  ASSERT_TRUE(adm.ok() && adm->has_value());
  EXPECT_EQ((*adm)->decision, "cooldown");
  auto row = store_->Get(b.detection_id);
  EXPECT_EQ((*row)->deliveries_size(), 0);  // delivered nowhere
  ASSERT_EQ(bsky_->posts().size(), 2u);
  ASSERT_EQ(masto_->statuses().size(), 2u);
  // The post after the cooldown mentions the folded detection, on each network.
  EXPECT_TRUE(absl::StrContains(bsky_->posts()[1].text, "+1 more")) << bsky_->posts()[1].text;
  EXPECT_TRUE(absl::StrContains(masto_->statuses()[1].text, "+1 more"))
      << masto_->statuses()[1].text;
}

TEST_F(DestinationsTest, DailyCapAndPauseApplyToOneDestination) {
  Reconfigure([](DestinationOptions& o) { o.daily_cap = 1; });
  ASSERT_TRUE(store_->SetDestinationPaused("webhook", true, "chat migration").ok());
  const Detection a = TestDetection(kT0), b = TestDetection(kT0 + absl::Minutes(20), 55, 58);
  Insert({a, b});
  RunAll();
  EXPECT_EQ(DeliveryOf(a, "bluesky").status(), v1::POST_STATUS_POSTED);
  EXPECT_EQ(DeliveryOf(b, "bluesky").status(), v1::POST_STATUS_DAILY_CAP);
  EXPECT_EQ(DeliveryOf(a, "webhook").status(), v1::POST_STATUS_PAUSED);
  EXPECT_TRUE(absl::StrContains(DeliveryOf(a, "webhook").last_error(), "chat migration"));
  EXPECT_EQ(WebhookProcessed(), 0);
  auto st = posters_["webhook"]->Status();
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->paused());
  EXPECT_EQ(st->pause_reason(), "chat migration");
  auto bs = posters_["bluesky"]->Status();
  ASSERT_TRUE(bs.ok());
  EXPECT_EQ(bs->posts_today(), 1u);
  EXPECT_EQ(bs->daily_post_cap(), 1u);
  // Resumed: the next detection goes out again.
  ASSERT_TRUE(store_->SetDestinationPaused("webhook", false, "").ok());
  const Detection c = TestDetection(kT0 + absl::Minutes(40), 58, 61);
  Insert({c});
  RunAll();
  EXPECT_EQ(DeliveryOf(c, "webhook").status(), v1::POST_STATUS_POSTED);
}

TEST_F(DestinationsTest, NeverTheSameTextTwiceOnOneNetwork) {
  composer_ = PostComposer({"Tank rose."}, {""});
  Reconfigure([](DestinationOptions&) {});
  std::vector<Detection> dets;
  for (int i = 0; i < 4; ++i)
    dets.push_back(TestDetection(kT0 + absl::Minutes(20 * i), 50 + i, 53 + i));
  Insert(dets);
  RunAll();
  std::set<std::string> texts;
  for (const auto& s : masto_->statuses()) texts.insert(s.text);
  EXPECT_EQ(masto_->statuses().size(), 4u);
  EXPECT_EQ(texts.size(), 4u);
  texts.clear();
  for (const auto& p : bsky_->posts()) texts.insert(p.text);
  EXPECT_EQ(texts.size(), 4u);
}

TEST_F(DestinationsTest, TextsFitEachNetworksLimit) {
  masto_->set_max_characters(40);
  networks_["mastodon"] = MakeMastodonNetwork(masto_switch_.get(), {"public", "en", 40, 23});
  AddPoster("mastodon", options_);
  const Detection d = TestDetection(kT0);
  Insert({d});
  RunAll();
  ASSERT_EQ(masto_->statuses().size(), 1u);
  EXPECT_LE(Graphemes(masto_->statuses()[0].text), 40u);
  ASSERT_EQ(bsky_->posts().size(), 1u);
  EXPECT_TRUE(FitsLimit(bsky_->posts()[0].text, BlueskyTextLimit()));
}

TEST_F(DestinationsTest, DryRunPerDestinationSendsNothingThere) {
  options_.dry_run = true;
  AddPoster("mastodon", options_);
  const Detection d = TestDetection(kT0);
  Insert({d});
  RunAll();
  EXPECT_EQ(DeliveryOf(d, "mastodon").status(), v1::POST_STATUS_DRY_RUN);
  EXPECT_FALSE(DeliveryOf(d, "mastodon").text().empty());
  EXPECT_EQ(masto_->requests(), 0);
  EXPECT_EQ(DeliveryOf(d, "bluesky").status(), v1::POST_STATUS_POSTED);
}

TEST_F(DestinationsTest, TestPostGoesToOneDestination) {
  auto dry = posters_["mastodon"]->PostTest("", false);
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ(dry->outcome, "dry-run");
  EXPECT_EQ(masto_->requests(), 0);
  auto real = posters_["mastodon"]->PostTest("hello from the test", true);
  ASSERT_TRUE(real.ok());
  EXPECT_EQ(real->outcome, "posted");
  ASSERT_EQ(masto_->statuses().size(), 1u);
  EXPECT_EQ(masto_->statuses()[0].text, "hello from the test");
  EXPECT_EQ(bsky_->posts().size(), 0u);
  auto b = posters_["bluesky"]->PostTest("hello bluesky", true);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->outcome, "posted") << b->error;
  EXPECT_EQ(bsky_->posts().size(), 1u);
  auto w = posters_["webhook"]->PostTest("hello hook", true);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->outcome, "posted") << w->error;
  auto too_long = posters_["bluesky"]->PostTest(std::string(301, 'a'), true);
  EXPECT_TRUE(absl::IsInvalidArgument(too_long.status()));
}

TEST_F(DestinationsTest, MetricsAreLabelledByDestination) {
  const Detection d = TestDetection(kT0);
  Insert({d});
  RunAll();
  const std::string text = iss::metrics::Serialize();
  for (const char* name : {"bluesky", "mastodon", "webhook"}) {
    EXPECT_TRUE(absl::StrContains(text, absl::StrCat("iss_peebot_posts_total{destination=\"", name,
                                                     "\",outcome=\"posted\"}")))
        << name;
  }
}

TEST(ParseDestinationsTest, NamesTheVariableAndTheBadEntry) {
  EXPECT_EQ(*ParseDestinations(""), std::vector<std::string>{"x"});
  EXPECT_EQ(*ParseDestinations(" bluesky , x"), (std::vector<std::string>{"bluesky", "x"}));
  auto bad = ParseDestinations("x,threads");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "ISS_PEEBOT_DESTINATIONS"));
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "threads"));
  EXPECT_FALSE(ParseDestinations("x,x").ok());
}

}  // namespace
}  // namespace iss::peebot
