#include "services/peebot/webhook_client.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/peebot/testing/fake_webhook_receiver.h"

namespace iss::peebot {
namespace {

using testing::FakeReply;
using testing::FakeWebhookReceiver;

// The Standard Webhooks test vector (spec repo, python tests; notes §3.3).
constexpr char kVectorSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr char kVectorId[] = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr int64_t kVectorTimestamp = 1674087231;
constexpr char kVectorBody[] = R"({"test": 2432232314})";
constexpr char kVectorSignature[] = "v1,AQG81rX2n4rTN1fkXoqILSHO9gAOcwya9dP41rhrQDI=";

constexpr char kSecret[] =
    "whsec_c2VjcmV0LWtleS1mb3ItcGVlYm90LXRlc3Rz";  // "secret-key-for-peebot-tests"
constexpr char kOtherSecret[] = "whsec_b3RoZXIta2V5LWZvci1wZWVib3QtdGVzdHM=";

Detection SampleDetection() {
  Detection d;
  d.detection_id = "fa2695095053d05ebc49287c81e02d60e591c625bef2aecf6baeeafdd254f927";
  d.item_id = "NODE3000005";
  d.start_time = absl::FromUnixMicros(1735689600123456);  // 2025-01-01T00:00:00.123456Z
  d.end_time = absl::FromUnixMicros(1735689669000000);
  d.start_level = 41;
  d.end_level = 44;
  d.rise = 3;
  d.volume_ml = 246.4;
  return d;
}

WebhookOptions Options(const std::string& url, std::vector<std::string> secrets,
                       absl::Duration timeout = absl::Seconds(5), const std::string& ca = "") {
  WebhookOptions o;
  o.url = url;
  o.secrets = std::move(secrets);
  o.timeout = timeout;
  o.ca_file = ca;
  return o;
}

std::unique_ptr<WebhookClient> Client(const FakeWebhookReceiver& fake,
                                      std::vector<std::string> secrets = {kSecret},
                                      absl::Duration timeout = absl::Seconds(5)) {
  auto c = WebhookClient::Create(Options(fake.url(), std::move(secrets), timeout, fake.ca_file()));
  EXPECT_TRUE(c.ok()) << c.status();
  return std::move(*c);
}

TEST(WebhookSignatureTest, StandardWebhooksVector) {
  auto key = DecodeWebhookSecret(kVectorSecret);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->size(), 24u);
  EXPECT_EQ(WebhookSignature(*key, kVectorId, kVectorTimestamp, kVectorBody), kVectorSignature);
  // The bare base64 key is the same key.
  EXPECT_EQ(*DecodeWebhookSecret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), *key);
  // "v1," + base64 of 32 bytes.
  EXPECT_EQ(WebhookSignature("k", "a", 1, "b").size(), 3u + 44u);
  EXPECT_NE(WebhookSignature("k", "a", 1, "b"), WebhookSignature("k", "a", 2, "b"));
}

TEST(WebhookSignatureTest, VerifyChecksBytesTimestampAndKeys) {
  const std::string key = *DecodeWebhookSecret(kVectorSecret);
  const absl::Time at = absl::FromUnixSeconds(kVectorTimestamp);
  const std::string ts = absl::StrCat(kVectorTimestamp);
  EXPECT_TRUE(VerifyWebhook({key}, kVectorId, ts, kVectorSignature, kVectorBody, at).ok());
  // Any one of several signatures (rotation), any one of several keys.
  EXPECT_TRUE(VerifyWebhook({key}, kVectorId, ts, absl::StrCat("v1,Zm9v ", kVectorSignature),
                            kVectorBody, at)
                  .ok());
  EXPECT_TRUE(VerifyWebhook({"other", key}, kVectorId, ts, kVectorSignature, kVectorBody, at).ok());
  // Re-serialized JSON is other bytes.
  auto s = VerifyWebhook({key}, kVectorId, ts, kVectorSignature, R"({"test":2432232314})", at);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(s.message(), "signature")) << s;
  EXPECT_FALSE(VerifyWebhook({key}, "msg_other", ts, kVectorSignature, kVectorBody, at).ok());
  EXPECT_FALSE(VerifyWebhook({"other"}, kVectorId, ts, kVectorSignature, kVectorBody, at).ok());
  EXPECT_FALSE(VerifyWebhook({key}, kVectorId, ts, "", kVectorBody, at).ok());
  // Too old and too new, by more than 5 minutes.
  s = VerifyWebhook({key}, kVectorId, ts, kVectorSignature, kVectorBody, at + absl::Seconds(301));
  EXPECT_TRUE(absl::StrContains(s.message(), "tolerance")) << s;
  EXPECT_FALSE(
      VerifyWebhook({key}, kVectorId, ts, kVectorSignature, kVectorBody, at - absl::Seconds(301))
          .ok());
  EXPECT_TRUE(
      VerifyWebhook({key}, kVectorId, ts, kVectorSignature, kVectorBody, at + absl::Seconds(299))
          .ok());
  EXPECT_FALSE(VerifyWebhook({key}, kVectorId, "soon", kVectorSignature, kVectorBody, at).ok());
  EXPECT_FALSE(VerifyWebhook({key}, "", ts, kVectorSignature, kVectorBody, at).ok());
}

TEST(WebhookSignatureTest, BadSecretsAreRefused) {
  for (const char* secret : {"", "whsec_", "whsec_!!!not base64!!!"}) {
    auto k = DecodeWebhookSecret(secret);
    EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument) << secret;
    EXPECT_TRUE(absl::StrContains(k.status().message(), "whsec_")) << k.status();
  }
}

TEST(WebhookPayloadTest, CarriesTextAndTheDetection) {
  const Detection d = SampleDetection();
  EXPECT_EQ(WebhookId(d.detection_id), "peebot_" + d.detection_id);
  const std::string body = WebhookPayload(d, "Urine tank +3%");
  EXPECT_EQ(body, R"({"type":"peebot.detection","id":"peebot_)" + d.detection_id +
                      R"(","timestamp":"2025-01-01T00:00:00.123Z","content":"Urine tank +3%",)"
                      R"("text":"Urine tank +3%","data":{"detection_id":")" +
                      d.detection_id +
                      R"(","item_id":"NODE3000005","start_time":"2025-01-01T00:00:00.123456Z",)"
                      R"("end_time":"2025-01-01T00:01:09.000000Z","start_level_percent":41.0,)"
                      R"("end_level_percent":44.0,"rise_percent":3.0,"estimated_volume_ml":246}})");
  EXPECT_EQ(WebhookPayload(d, "Urine tank +3%"), body);  // the same bytes every time
  EXPECT_TRUE(absl::StrContains(WebhookPayload(d, "a\xFF"), "a\xEF\xBF\xBD"));
}

class WebhookClientTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({kSecret}); }
  void Start(std::vector<std::string> secrets, bool dedupe = true) {
    fake_.reset();
    FakeWebhookReceiver::Options o;
    o.secrets = std::move(secrets);
    o.dedupe = dedupe;
    auto s = FakeWebhookReceiver::Start(o);
    ASSERT_TRUE(s.ok()) << s.status();
    fake_ = std::move(*s);
  }
  std::unique_ptr<FakeWebhookReceiver> fake_;
};

TEST_F(WebhookClientTest, DeliversSignedBytesWithIdAndIdempotencyKey) {
  const Detection d = SampleDetection();
  const std::string body = WebhookPayload(d, "hello");
  auto r = Client(*fake_)->Deliver(WebhookId(d.detection_id), body);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok());
  EXPECT_EQ(r->http_status, 204);
  ASSERT_EQ(fake_->processed().size(), 1u);
  const auto got = fake_->processed()[0];
  EXPECT_EQ(got.webhook_id, WebhookId(d.detection_id));
  EXPECT_EQ(got.idempotency_key, got.webhook_id);
  EXPECT_EQ(got.body, body);
  EXPECT_NEAR(got.timestamp, absl::ToUnixSeconds(absl::Now()), 5);
  EXPECT_EQ(fake_->rejected(), 0);
}

TEST_F(WebhookClientTest, ReDeliveryAfterALostAnswerIsDedupedByTheReceiver) {
  auto client = Client(*fake_);
  fake_->Push(FakeReply::AcceptThenDrop());
  auto lost = client->Deliver("peebot_abc", R"({"n":1})");
  ASSERT_FALSE(lost.ok());
  EXPECT_TRUE(RequestMayHaveArrived(lost.status()));
  // A later attempt: new timestamp and signature, same id and bytes.
  auto again = client->DeliverAt("peebot_abc", R"({"n":1})", absl::Now() + absl::Seconds(2));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->ok());
  ASSERT_EQ(fake_->deliveries().size(), 2u);
  EXPECT_FALSE(fake_->deliveries()[0].duplicate);
  EXPECT_TRUE(fake_->deliveries()[1].duplicate);
  EXPECT_NE(fake_->deliveries()[0].timestamp, fake_->deliveries()[1].timestamp);
  EXPECT_EQ(fake_->processed().size(), 1u);  // acted on once
  // A receiver that does not dedupe acts twice: what chat webhooks do.
  fake_->set_dedupe(false);
  ASSERT_TRUE(client->Deliver("peebot_abc", R"({"n":1})")->ok());
  EXPECT_EQ(fake_->processed().size(), 2u);
}

TEST_F(WebhookClientTest, WrongSecretOrStaleTimestampIs401) {
  auto r = Client(*fake_, {kOtherSecret})->Deliver("peebot_1", "{}");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->http_status, 401);
  r = Client(*fake_)->DeliverAt("peebot_1", "{}", absl::Now() - absl::Minutes(10));
  EXPECT_EQ(r->http_status, 401);
  r = Client(*fake_)->DeliverAt("peebot_1", "{}", absl::Now() + absl::Minutes(10));
  EXPECT_EQ(r->http_status, 401);
  r = Client(*fake_, {})->Deliver("peebot_1", "{}");  // unsigned
  EXPECT_EQ(r->http_status, 401);
  EXPECT_EQ(fake_->rejected(), 4);
  ASSERT_EQ(fake_->rejections().size(), 4u);
  EXPECT_TRUE(absl::StrContains(fake_->rejections()[1], "tolerance")) << fake_->rejections()[1];
  EXPECT_TRUE(fake_->deliveries().empty());
  // Rotation: old and new secret both sign; the receiver knows only the new one.
  r = Client(*fake_, {kOtherSecret, kSecret})->Deliver("peebot_1", "{}");
  EXPECT_TRUE(r->ok());
  EXPECT_EQ(fake_->processed().size(), 1u);
}

TEST_F(WebhookClientTest, UnsignedDeliveryToAChatStyleReceiver) {
  Start({});
  auto r = Client(*fake_, {})->Deliver("peebot_1", R"({"content":"hi"})");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok());
  EXPECT_EQ(fake_->processed().size(), 1u);
}

TEST_F(WebhookClientTest, ErrorAnswersAreResults) {
  auto client = Client(*fake_);
  fake_->Push(FakeReply::ServerError(503));
  fake_->Push(FakeReply::With(410));
  fake_->Push(FakeReply::RateLimitedFor(30));
  fake_->Push(FakeReply::With(301));
  auto r = client->Deliver("peebot_1", "{}");
  EXPECT_EQ(r->http_status, 503);
  EXPECT_FALSE(r->ok());
  r = client->Deliver("peebot_1", "{}");
  EXPECT_TRUE(r->gone());
  r = client->Deliver("peebot_1", "{}");
  EXPECT_TRUE(r->rate_limited());
  EXPECT_EQ(r->retry_after, absl::Seconds(30));
  r = client->Deliver("peebot_1", "{}");
  EXPECT_EQ(r->http_status, 301);  // not followed, not a success
  EXPECT_FALSE(r->ok());
  EXPECT_TRUE(fake_->deliveries().empty());
  // Not JSON: the receiver refuses it.
  EXPECT_EQ(client->Deliver("peebot_1", "not json")->http_status, 400);
  EXPECT_TRUE(client->Deliver("peebot_1", "{}")->ok());
  EXPECT_EQ(fake_->answers(), (std::vector<int>{503, 410, 429, 301, 400, 204}));
}

TEST_F(WebhookClientTest, SlowAnswerTimesOutWithUnknownOutcome) {
  FakeReply slow = FakeReply::Late(absl::Milliseconds(800));
  fake_->Push(slow);
  auto r = Client(*fake_, {kSecret}, absl::Milliseconds(300))->Deliver("peebot_1", "{}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_TRUE(RequestMayHaveArrived(r.status()));
}

TEST_F(WebhookClientTest, BadInputIsRefusedBeforeSending) {
  auto client = Client(*fake_);
  for (const char* id : {"", "peebot.1"}) {
    auto r = client->Deliver(id, "{}");
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_TRUE(absl::StrContains(r.status().message(), "webhook_id")) << r.status();
  }
  auto r = client->Deliver("peebot_1", "");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(fake_->answers().empty());
}

TEST_F(WebhookClientTest, UrlPathAndQueryAreKept) {
  auto c = WebhookClient::Create(Options(fake_->url() + "?wait=true", {kSecret}));
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE((*c)->Deliver("peebot_1", "{}")->ok());
  c = WebhookClient::Create(Options(fake_->base_url() + "/elsewhere", {kSecret}));
  EXPECT_EQ((*c)->Deliver("peebot_1", "{}")->http_status, 404);
}

TEST(WebhookClientStandaloneTest, CreateRefusesBadUrlsAndSecrets) {
  for (const char* url : {"http://hooks.example.com/x", "ftp://127.0.0.1/x", "", "https://"}) {
    auto c = WebhookClient::Create(Options(url, {kSecret}));
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << url;
    EXPECT_TRUE(absl::StrContains(c.status().message(), "webhook URL")) << c.status();
  }
  auto c = WebhookClient::Create(Options("https://hooks.example.com/x", {"whsec_%%%"}));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(WebhookClient::Create(Options("https://hooks.example.com/x", {kSecret})).ok());
  EXPECT_TRUE(WebhookClient::Create(Options("http://localhost:8080/x", {})).ok());
}

TEST(WebhookClientTlsTest, DeliversOverVerifiedTls) {
  FakeWebhookReceiver::Options o;
  o.secrets = {kSecret};
  auto fake = FakeWebhookReceiver::Start(o, "127.0.0.1:0", /*tls=*/true);
  ASSERT_TRUE(fake.ok()) << fake.status();
  auto r = Client(**fake)->Deliver("peebot_1", "{}");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok());
  auto untrusted = WebhookClient::Create(Options((*fake)->url(), {kSecret}));
  auto refused = (*untrusted)->Deliver("peebot_2", "{}");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(RequestMayHaveArrived(refused.status()));
  EXPECT_EQ((*fake)->processed().size(), 1u);
}

}  // namespace
}  // namespace iss::peebot
