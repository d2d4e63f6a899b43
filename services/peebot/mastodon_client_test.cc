#include "services/peebot/mastodon_client.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/peebot/testing/fake_mastodon_server.h"

namespace iss::peebot {
namespace {

using testing::FakeMastodonAccount;
using testing::FakeMastodonServer;
using testing::FakeReply;

const FakeMastodonAccount kAccount{"1001", "peebot", "token-a", "write:statuses read:statuses"};
const FakeMastodonAccount kOther{"1002", "other", "token-b", "write"};
const FakeMastodonAccount kReadOnly{"1003", "reader", "token-r", "read"};

MastodonOptions Options(const std::string& url, const std::string& token,
                        absl::Duration timeout = absl::Seconds(5), const std::string& ca = "") {
  MastodonOptions o;
  o.instance_url = url;
  o.access_token = token;
  o.timeout = timeout;
  o.ca_file = ca;
  return o;
}

std::unique_ptr<MastodonClient> Client(const FakeMastodonServer& fake,
                                       const std::string& token = kAccount.token,
                                       absl::Duration timeout = absl::Seconds(5)) {
  auto c = MastodonClient::Create(Options(fake.base_url(), token, timeout, fake.ca_file()));
  EXPECT_TRUE(c.ok()) << c.status();
  return std::move(*c);
}

MastodonStatusRequest Status(const std::string& text, const std::string& key) {
  MastodonStatusRequest r;
  r.text = text;
  r.language = "en";
  r.idempotency_key = key;
  return r;
}

absl::Time WindowEnd() {
  return absl::FromUnixSeconds((absl::ToUnixSeconds(absl::Now()) / 10800 + 1) * 10800);
}

class MastodonClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = FakeMastodonServer::Start({kAccount, kOther, kReadOnly});
    ASSERT_TRUE(s.ok()) << s.status();
    fake_ = std::move(*s);
  }
  std::unique_ptr<FakeMastodonServer> fake_;
};

TEST_F(MastodonClientTest, PostsAStatusAndReadsRateLimitHeaders) {
  auto r = Client(*fake_)->PostStatus(Status("urine tank +3% <at> 12:30", "peebot-aa"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->ok()) << r->http_status << " " << r->error;
  EXPECT_EQ(r->http_status, 200);  // not 201
  ASSERT_EQ(fake_->statuses(kAccount.id).size(), 1u);
  const auto s = fake_->statuses(kAccount.id)[0];
  EXPECT_EQ(r->status_id, s.id);
  EXPECT_EQ(r->url, s.url);
  EXPECT_FALSE(r->created_at.empty());
  EXPECT_EQ(s.text, "urine tank +3% <at> 12:30");
  EXPECT_EQ(s.visibility, "public");
  EXPECT_EQ(s.language, "en");
  EXPECT_EQ(s.idempotency_key, "peebot-aa");
  EXPECT_EQ(r->rate_limit.limit, 300);
  EXPECT_EQ(r->rate_limit.remaining, 299);
  EXPECT_EQ(r->rate_limit.reset, WindowEnd());  // parsed from ISO 8601 with 6 digits
}

TEST_F(MastodonClientTest, RepeatedKeyGetsTheFirstStatusNotASecondOne) {
  auto client = Client(*fake_);
  auto first = client->PostStatus(Status("once", "peebot-k1"));
  ASSERT_TRUE(first.ok() && first->ok());
  auto again = client->PostStatus(Status("once", "peebot-k1"));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->ok());
  EXPECT_EQ(again->status_id, first->status_id);
  EXPECT_EQ(again->url, first->url);
  EXPECT_EQ(fake_->statuses().size(), 1u);
  // Even with other words: the key wins (so the caller must re-send the stored body).
  EXPECT_EQ(client->PostStatus(Status("changed", "peebot-k1"))->status_id, first->status_id);
  EXPECT_EQ(fake_->statuses().size(), 1u);
  // Another key, or the same key on another account, is another status.
  EXPECT_NE(client->PostStatus(Status("once", "peebot-k2"))->status_id, first->status_id);
  EXPECT_TRUE(Client(*fake_, kOther.token)->PostStatus(Status("once", "peebot-k1"))->ok());
  EXPECT_EQ(fake_->statuses(kAccount.id).size(), 2u);
  EXPECT_EQ(fake_->statuses(kOther.id).size(), 1u);
  // The same bytes were sent each time.
  EXPECT_EQ(fake_->bodies()[0], fake_->bodies()[1]);
}

TEST_F(MastodonClientTest, LostAnswerIsSettledByReSendingTheSameKey) {
  auto client = Client(*fake_);
  fake_->Push(FakeReply::AcceptThenDrop());
  auto lost = client->PostStatus(Status("exactly once", "peebot-lost"));
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kUnavailable) << lost.status();
  EXPECT_TRUE(RequestMayHaveArrived(lost.status()));
  ASSERT_EQ(fake_->statuses().size(), 1u);
  auto again = client->PostStatus(Status("exactly once", "peebot-lost"));
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(again->ok());
  EXPECT_EQ(again->status_id, fake_->statuses()[0].id);
  EXPECT_EQ(fake_->statuses().size(), 1u);
}

TEST_F(MastodonClientTest, Repeat500BugAnswers500ThoughTheStatusExists) {
  fake_->set_idempotency(FakeMastodonServer::Idempotency::kRepeat500);
  auto client = Client(*fake_);
  fake_->Push(FakeReply::AcceptThenDrop());
  EXPECT_FALSE(client->PostStatus(Status("once", "peebot-500")).ok());
  auto again = client->PostStatus(Status("once", "peebot-500"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->http_status, 500);
  EXPECT_FALSE(again->ok());
  EXPECT_EQ(fake_->statuses().size(), 1u);
}

TEST_F(MastodonClientTest, ForgottenOrIgnoredKeysDuplicate) {
  auto client = Client(*fake_);
  ASSERT_TRUE(client->PostStatus(Status("once", "peebot-old"))->ok());
  fake_->ExpireIdempotencyKeys();  // the hour passed
  ASSERT_TRUE(client->PostStatus(Status("once", "peebot-old"))->ok());
  EXPECT_EQ(fake_->statuses().size(), 2u);
  fake_->set_idempotency(FakeMastodonServer::Idempotency::kIgnored);
  ASSERT_TRUE(client->PostStatus(Status("once", "peebot-old"))->ok());
  EXPECT_EQ(fake_->statuses().size(), 3u);
}

TEST_F(MastodonClientTest, BadTokenAndMissingScope) {
  auto r = Client(*fake_, "wrong-token")->PostStatus(Status("x", "k"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->http_status, 401);
  EXPECT_EQ(r->error, "The access token is invalid");
  r = Client(*fake_, kReadOnly.token)->PostStatus(Status("x", "k"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->http_status, 403);
  EXPECT_EQ(r->error, "This action is outside the authorized scopes");
  EXPECT_FALSE(r->ok());
  EXPECT_TRUE(fake_->statuses().empty());
}

TEST_F(MastodonClientTest, OverLengthIs422AndUrlsCount23) {
  auto client = Client(*fake_);
  auto r = client->PostStatus(Status(std::string(501, 'a'), "k1"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->http_status, 422);
  EXPECT_EQ(r->error, "Validation failed: Text character limit of 500 exceeded");
  // 476 + space + a 120-character URL counted as 23 = 500.
  const std::string url = "https://example.com/" + std::string(100, 'p');
  EXPECT_TRUE(client->PostStatus(Status(std::string(476, 'a') + " " + url, "k2"))->ok());
  fake_->set_max_characters(100);
  EXPECT_EQ(client->PostStatus(Status(std::string(101, 'a'), "k3"))->http_status, 422);
  EXPECT_EQ(fake_->statuses().size(), 1u);
}

TEST_F(MastodonClientTest, RateLimitedWithIsoResetAndNoRetryAfter) {
  fake_->set_statuses_per_window(1);
  auto client = Client(*fake_);
  ASSERT_TRUE(client->PostStatus(Status("a", "k1"))->ok());
  auto r = client->PostStatus(Status("b", "k2"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->rate_limited());
  EXPECT_EQ(r->error, "Too many requests");
  EXPECT_EQ(r->rate_limit.remaining, 0);
  EXPECT_EQ(r->rate_limit.limit, 1);
  EXPECT_EQ(r->rate_limit.reset, WindowEnd());
  // A repeat of a stored key is no new status: not rate limited.
  EXPECT_TRUE(client->PostStatus(Status("a", "k1"))->ok());
  EXPECT_EQ(fake_->statuses().size(), 1u);
}

TEST_F(MastodonClientTest, ScriptedRateLimitCarriesTheGivenReset) {
  const absl::Time reset = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) + 90);
  fake_->Push(FakeReply::RateLimited(reset));
  auto r = Client(*fake_)->PostStatus(Status("x", "k"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->rate_limited());
  EXPECT_EQ(r->rate_limit.reset, reset);
  EXPECT_EQ(r->rate_limit.remaining, 0);
  EXPECT_TRUE(fake_->statuses().empty());
}

TEST_F(MastodonClientTest, ServerErrorsAreResults) {
  auto client = Client(*fake_);
  fake_->Push(FakeReply::ServerError(503));
  FakeReply html = FakeReply::ServerError(500);
  html.html = true;
  fake_->Push(html);
  auto r = client->PostStatus(Status("x", "k"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->http_status, 503);
  EXPECT_TRUE(absl::StrContains(r->error, "temporary problem")) << r->error;
  r = client->PostStatus(Status("x", "k"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->http_status, 500);
  EXPECT_TRUE(absl::StartsWith(r->error, "<!DOCTYPE html>")) << r->error;
  EXPECT_TRUE(fake_->statuses().empty());
  EXPECT_TRUE(client->PostStatus(Status("x", "k"))->ok());
}

TEST_F(MastodonClientTest, SlowAnswerTimesOutWithUnknownOutcome) {
  FakeReply slow = FakeReply::Late(absl::Milliseconds(800));
  fake_->Push(slow);
  auto r = Client(*fake_, kAccount.token, absl::Milliseconds(300))->PostStatus(Status("x", "k"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_TRUE(RequestMayHaveArrived(r.status()));
  // Created; the repeat with the same key (a patient client) gets it, once.
  auto again = Client(*fake_)->PostStatus(Status("x", "k"));
  ASSERT_TRUE(again.ok() && again->ok());
  EXPECT_EQ(fake_->statuses().size(), 1u);
}

TEST_F(MastodonClientTest, BadRequestsAreRefusedBeforeSending) {
  auto client = Client(*fake_);
  auto r = client->PostStatus(Status("", "k"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "text")) << r.status();
  r = client->PostStatus(Status("x", ""));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "idempotency_key")) << r.status();
  MastodonStatusRequest bad = Status("x", "k");
  bad.visibility = "everyone";
  r = client->PostStatus(bad);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "visibility")) << r.status();
  EXPECT_EQ(fake_->requests(), 0);
}

TEST_F(MastodonClientTest, FakeTakesFormBodiesAndRefusesBlankText) {
  auto endpoint = ParseHttpEndpoint(fake_->base_url(), "fake");
  ASSERT_TRUE(endpoint.ok());
  HttpRequest req;
  req.target = "/api/v1/statuses";
  req.headers = {{"Authorization", "Bearer " + kAccount.token},
                 {"Content-Type", "application/x-www-form-urlencoded"}};
  req.body = "status=hello+form%21&visibility=unlisted";
  auto res = SendHttp(*endpoint, req, {});
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 200);
  ASSERT_EQ(fake_->statuses().size(), 1u);
  EXPECT_EQ(fake_->statuses()[0].text, "hello form!");
  EXPECT_EQ(fake_->statuses()[0].visibility, "unlisted");
  req.body = "status=+&visibility=public";
  res = SendHttp(*endpoint, req, {});
  EXPECT_EQ(res->status, 422);
  EXPECT_TRUE(absl::StrContains(res->body, "can't be blank")) << res->body;
  req.body = "status=x&visibility=everyone";
  EXPECT_EQ(SendHttp(*endpoint, req, {})->status, 422);
  req.method = "GET";
  req.target = "/_fake/received";
  res = SendHttp(*endpoint, req, {});
  EXPECT_EQ(nlohmann::json::parse(res->body)["statuses"][0]["text"], "hello form!");
}

TEST_F(MastodonClientTest, ReadsTheInstanceLimits) {
  auto client = Client(*fake_);
  auto limits = client->GetInstanceLimits();
  ASSERT_TRUE(limits.ok()) << limits.status();
  EXPECT_EQ(limits->max_characters, 500u);
  EXPECT_EQ(limits->characters_reserved_per_url, 23u);
  fake_->set_max_characters(1000);
  fake_->set_characters_per_url(30);
  limits = client->GetInstanceLimits();
  ASSERT_TRUE(limits.ok());
  EXPECT_EQ(limits->max_characters, 1000u);
  EXPECT_EQ(limits->characters_reserved_per_url, 30u);
}

TEST(MastodonClientTlsTest, PostsOverVerifiedTls) {
  auto fake = FakeMastodonServer::Start({kAccount}, "127.0.0.1:0", /*tls=*/true);
  ASSERT_TRUE(fake.ok()) << fake.status();
  auto r = Client(**fake)->PostStatus(Status("over TLS", "k"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok());
  auto untrusted = MastodonClient::Create(Options((*fake)->base_url(), kAccount.token));
  ASSERT_TRUE(untrusted.ok());
  auto refused = (*untrusted)->PostStatus(Status("x", "k2"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(RequestMayHaveArrived(refused.status()));
  EXPECT_EQ((*fake)->statuses().size(), 1u);
}

TEST(MastodonClientStandaloneTest, PlainHttpOnlyToLoopbackAndTokenRequired) {
  for (const char* url : {"http://mastodon.social", "http://192.168.1.2", "mastodon.social", ""}) {
    auto c = MastodonClient::Create(Options(url, "t"));
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << url;
    EXPECT_TRUE(absl::StrContains(c.status().message(), "Mastodon instance URL")) << c.status();
  }
  EXPECT_TRUE(MastodonClient::Create(Options("https://mastodon.social", "t")).ok());
  EXPECT_TRUE(MastodonClient::Create(Options("http://127.0.0.1:3000", "t")).ok());
  auto c = MastodonClient::Create(Options("https://mastodon.social", ""));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(c.status().message(), "token")) << c.status();
}

TEST(MastodonClientStandaloneTest, UnreachableInstanceIsUnavailable) {
  int port = 0;
  {
    auto s = FakeMastodonServer::Start();
    ASSERT_TRUE(s.ok());
    port = (*s)->port();
  }
  auto c = MastodonClient::Create(Options(absl::StrCat("http://127.0.0.1:", port), "t"));
  ASSERT_TRUE(c.ok());
  auto r = (*c)->PostStatus(Status("x", "k"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_FALSE(RequestMayHaveArrived(r.status()));
  EXPECT_FALSE((*c)->GetInstanceLimits().ok());
}

TEST(MastodonClientStandaloneTest, KeysBodiesAndAnswers) {
  EXPECT_EQ(MastodonIdempotencyKey("fa2695"), "peebot-fa2695");
  EXPECT_EQ(MastodonStatusBody(Status("hi", "k")),
            R"({"language":"en","status":"hi","visibility":"public"})");
  MastodonStatusRequest no_lang = Status("a\xFF", "k");
  no_lang.language = "";
  EXPECT_EQ(MastodonStatusBody(no_lang),
            "{\"status\":\"a\xEF\xBF\xBD\",\"visibility\":\"public\"}");
  auto r = InterpretMastodonResponse(429,
                                     {{"x-ratelimit-reset", "2026-09-10T12:35:00.000000Z"},
                                      {"x-ratelimit-remaining", "0"},
                                      {"x-ratelimit-limit", "300"}},
                                     R"({"error":"Too many requests"})");
  EXPECT_EQ(r.rate_limit.reset, absl::FromUnixSeconds(1789043700));
  EXPECT_EQ(r.rate_limit.remaining, 0);
  EXPECT_EQ(r.error, "Too many requests");
  r = InterpretMastodonResponse(401, {}, R"({"error":"invalid_token","error_description":"gone"})");
  EXPECT_EQ(r.error, "invalid_token: gone");
  r = InterpretMastodonResponse(200, {}, R"({"url":null})");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(absl::StartsWith(r.error, "invalid response")) << r.error;
  r = InterpretMastodonResponse(200, {}, R"({"id":"1","url":null})");
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.url, "");
  EXPECT_FALSE(InterpretMastodonResponse(200, {{"x-ratelimit-reset", "soon"}}, "{}")
                   .rate_limit.reset.has_value());
}

}  // namespace
}  // namespace iss::peebot
