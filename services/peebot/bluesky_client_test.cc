#include "services/peebot/bluesky_client.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/peebot/testing/fake_bluesky_server.h"
#include "services/peebot/tid.h"

namespace iss::peebot {
namespace {

using testing::FakeBlueskyAccount;
using testing::FakeBlueskyServer;
using testing::FakeReply;

const FakeBlueskyAccount kAccount{"peebot.test", "did:plc:peebot00000000000000000", "pw-1234"};
const FakeBlueskyAccount kOther{"other.test", "did:plc:other000000000000000000", "pw-5678"};

std::unique_ptr<BlueskyClient> Client(const FakeBlueskyServer& fake,
                                      const FakeBlueskyAccount& account = kAccount,
                                      absl::Duration timeout = absl::Seconds(5)) {
  auto c = BlueskyClient::Create(
      {fake.base_url(), account.handle, account.password, timeout, fake.ca_file()});
  EXPECT_TRUE(c.ok()) << c.status();
  return std::move(*c);
}

BlueskyOptions Options(const std::string& url, const std::string& id, const std::string& pw) {
  BlueskyOptions o;
  o.pds_url = url;
  o.identifier = id;
  o.app_password = pw;
  return o;
}

std::string Rkey(int n) { return FormatTid(1788000000000000 + n, 550); }

std::string Record(const std::string& text) {
  return BlueskyPostRecord(text, absl::FromUnixMillis(1788000000123));
}

// A request the client never sends (to check the fake's own rules).
HttpResponse Raw(const FakeBlueskyServer& fake, const std::string& method,
                 const std::string& target, const std::string& body,
                 const std::string& bearer = "") {
  auto endpoint = ParseHttpEndpoint(fake.base_url(), "fake");
  EXPECT_TRUE(endpoint.ok());
  HttpRequest req{method, target, {}, body};
  if (!bearer.empty()) req.headers.emplace_back("Authorization", "Bearer " + bearer);
  auto res = SendHttp(*endpoint, req, {});
  EXPECT_TRUE(res.ok()) << res.status();
  return res.ok() ? *res : HttpResponse{};
}

class BlueskyClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = FakeBlueskyServer::Start({kAccount, kOther});
    ASSERT_TRUE(s.ok()) << s.status();
    fake_ = std::move(*s);
  }
  std::unique_ptr<FakeBlueskyServer> fake_;
};

TEST_F(BlueskyClientTest, PostsWithTheGivenRecordKeyAndKeepsTheSession) {
  auto client = Client(*fake_);
  auto r = client->CreatePost(Rkey(1), Record("urine tank +3%"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok()) << r->http_status << " " << r->error << " " << r->message;
  EXPECT_EQ(r->call, kXrpcCreateRecord);
  EXPECT_EQ(r->uri, BlueskyPostUri(kAccount.did, Rkey(1)));
  EXPECT_FALSE(r->cid.empty());
  ASSERT_EQ(fake_->posts(kAccount.did).size(), 1u);
  EXPECT_EQ(fake_->posts(kAccount.did)[0].text, "urine tank +3%");
  EXPECT_EQ(fake_->posts(kAccount.did)[0].rkey, Rkey(1));
  // Sent byte for byte as given.
  EXPECT_EQ(nlohmann::json::parse(fake_->posts()[0].record_json),
            nlohmann::json::parse(Record("urine tank +3%")));
  ASSERT_TRUE(client->session().has_value());
  EXPECT_EQ(client->session()->did, kAccount.did);
  EXPECT_EQ(client->session()->handle, kAccount.handle);

  ASSERT_TRUE(client->CreatePost(Rkey(2), Record("second"))->ok());
  EXPECT_EQ(fake_->calls(kXrpcCreateSession), 1);  // logged in once, not per post
  EXPECT_EQ(client->logins(), 1);
  EXPECT_EQ(fake_->posts().size(), 2u);
  EXPECT_TRUE(fake_->posts(kOther.did).empty());
}

TEST_F(BlueskyClientTest, ParsesRateLimitHeadersOnSuccess) {
  auto r = Client(*fake_)->CreatePost(Rkey(1), Record("hello"));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->ok());
  EXPECT_EQ(r->rate_limit.limit, 5000);
  EXPECT_EQ(r->rate_limit.remaining, 4997);  // a create costs 3 points
  ASSERT_TRUE(r->rate_limit.reset.has_value());
  const int64_t hour_end = (absl::ToUnixSeconds(absl::Now()) / 3600 + 1) * 3600;
  EXPECT_NEAR(absl::ToUnixSeconds(*r->rate_limit.reset), hour_end, 3600);
  EXPECT_EQ(r->rate_limit.policy, "5000;w=3600");
  EXPECT_FALSE(r->rate_limit.retry_after.has_value());
}

TEST_F(BlueskyClientTest, ExpiredAccessTokenIsRefreshedAndThePostSentOnce) {
  auto client = Client(*fake_);
  ASSERT_TRUE(client->CreatePost(Rkey(1), Record("one"))->ok());
  const BlueskySession before = *client->session();
  fake_->ExpireAccessTokens();  // the PDS answers 400 ExpiredToken (not 401)
  auto r = client->CreatePost(Rkey(2), Record("two"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok()) << r->http_status << " " << r->error;
  EXPECT_EQ(fake_->statuses(kXrpcCreateRecord), (std::vector<int>{200, 400, 200}));
  EXPECT_EQ(fake_->calls(kXrpcRefreshSession), 1);
  EXPECT_EQ(fake_->calls(kXrpcCreateSession), 1);
  EXPECT_EQ(client->refreshes(), 1);
  // Both tokens rotated.
  EXPECT_NE(client->session()->access_jwt, before.access_jwt);
  EXPECT_NE(client->session()->refresh_jwt, before.refresh_jwt);
  ASSERT_EQ(fake_->posts().size(), 2u);
  EXPECT_EQ(fake_->posts()[1].rkey, Rkey(2));  // same key after the refresh
}

TEST_F(BlueskyClientTest, RevokedRefreshTokenLeadsToANewLogin) {
  auto client = Client(*fake_);
  ASSERT_TRUE(client->CreatePost(Rkey(1), Record("one"))->ok());
  fake_->ExpireAccessTokens();
  fake_->RevokeRefreshTokens();
  auto r = client->CreatePost(Rkey(2), Record("two"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok()) << r->http_status << " " << r->error;
  EXPECT_EQ(fake_->statuses(kXrpcRefreshSession), (std::vector<int>{400}));
  EXPECT_EQ(fake_->calls(kXrpcCreateSession), 2);
  EXPECT_EQ(client->logins(), 2);
  EXPECT_EQ(fake_->posts().size(), 2u);
}

TEST_F(BlueskyClientTest, RefreshFailingWithAServerErrorKeepsTheSession) {
  auto client = Client(*fake_);
  ASSERT_TRUE(client->CreatePost(Rkey(1), Record("one"))->ok());
  const std::string refresh = client->session()->refresh_jwt;
  fake_->ExpireAccessTokens();
  fake_->Push(kXrpcRefreshSession, FakeReply::ServerError(503));
  auto r = client->CreatePost(Rkey(2), Record("two"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->call, kXrpcRefreshSession);
  EXPECT_EQ(r->http_status, 503);
  EXPECT_EQ(fake_->calls(kXrpcCreateSession), 1);  // no new login for a passing failure
  EXPECT_EQ(client->session()->refresh_jwt, refresh);
  // Next time the refresh works and the post goes out.
  ASSERT_TRUE(client->CreatePost(Rkey(2), Record("two"))->ok());
  EXPECT_EQ(fake_->posts().size(), 2u);
}

// The exactly-once path: the record was created but the answer was lost; the
// retry with the same key is refused (500 today), and getRecord settles it.
TEST_F(BlueskyClientTest, LostAnswerIsResolvedWithGetRecordNotASecondPost) {
  auto client = Client(*fake_);
  ASSERT_TRUE(client->Login()->ok());
  fake_->Push(kXrpcCreateRecord, FakeReply::AcceptThenDrop());
  auto first = client->CreatePost(Rkey(7), Record("only once"));
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable) << first.status();
  EXPECT_TRUE(RequestMayHaveArrived(first.status()));
  ASSERT_EQ(fake_->posts().size(), 1u);

  auto again = client->CreatePost(Rkey(7), Record("only once"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->http_status, 500);
  EXPECT_EQ(again->error, "InternalServerError");
  EXPECT_EQ(fake_->posts().size(), 1u);

  auto found = client->GetPost(Rkey(7));
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->ok()) << found->http_status << " " << found->error;
  EXPECT_EQ(found->record_text, "only once");
  EXPECT_EQ(found->uri, BlueskyPostUri(kAccount.did, Rkey(7)));
  EXPECT_EQ(found->cid, fake_->posts()[0].cid);
  EXPECT_EQ(nlohmann::json::parse(found->record_json)["createdAt"], "2026-08-29T10:40:00.123Z");

  // After atproto PR #4728 the same conflict is a 400 RecordAlreadyExists.
  fake_->set_conflict_answer_already_exists(true);
  again = client->CreatePost(Rkey(7), Record("only once"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->http_status, 400);
  EXPECT_EQ(again->error, "RecordAlreadyExists");
  EXPECT_EQ(fake_->posts().size(), 1u);
}

TEST_F(BlueskyClientTest, GetRecordOfAMissingPostIsRecordNotFound) {
  auto client = Client(*fake_);
  auto r = client->GetPost(Rkey(9));  // logs in to learn the DID
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->record_not_found()) << r->http_status << " " << r->error;
  EXPECT_TRUE(absl::StrContains(r->message, BlueskyPostUri(kAccount.did, Rkey(9)))) << r->message;
  EXPECT_FALSE(r->ok());
  // Dropped before the server answered: nothing created, so re-sending is safe.
  fake_->Push(kXrpcCreateRecord, FakeReply::Drop());
  EXPECT_TRUE(RequestMayHaveArrived(client->CreatePost(Rkey(9), Record("x")).status()));
  EXPECT_TRUE(client->GetPost(Rkey(9))->record_not_found());
  EXPECT_TRUE(client->CreatePost(Rkey(9), Record("x"))->ok());
  EXPECT_EQ(client->GetPost(Rkey(9))->record_text, "x");
}

TEST_F(BlueskyClientTest, RateLimitedAnswersCarryResetAndRetryAfter) {
  auto client = Client(*fake_);
  const absl::Time reset = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) + 120);
  fake_->Push(kXrpcCreateRecord, FakeReply::RateLimited(reset));
  auto r = client->CreatePost(Rkey(1), Record("hello"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->rate_limited());
  EXPECT_EQ(r->error, "RateLimitExceeded");
  EXPECT_EQ(r->rate_limit.reset, reset);
  EXPECT_EQ(r->rate_limit.remaining, 0);
  ASSERT_TRUE(r->rate_limit.retry_after.has_value());
  EXPECT_GE(*r->rate_limit.retry_after, absl::Seconds(118));
  EXPECT_LE(*r->rate_limit.retry_after, absl::Seconds(120));
  EXPECT_TRUE(fake_->posts().empty());

  // Spending the points: 6 per hour = two creates.
  fake_->set_points_per_hour(6);
  EXPECT_TRUE(client->CreatePost(Rkey(1), Record("a"))->ok());
  EXPECT_TRUE(client->CreatePost(Rkey(2), Record("b"))->ok());
  r = client->CreatePost(Rkey(3), Record("c"));
  EXPECT_TRUE(r->rate_limited());
  EXPECT_EQ(fake_->posts().size(), 2u);
}

TEST_F(BlueskyClientTest, WrongPasswordIsTheLoginsAnswer) {
  FakeBlueskyAccount wrong = kAccount;
  wrong.password = "nope";
  auto client = Client(*fake_, wrong);
  auto r = client->CreatePost(Rkey(1), Record("hello"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->call, kXrpcCreateSession);
  EXPECT_EQ(r->http_status, 401);
  EXPECT_EQ(r->error, "AuthenticationRequired");
  EXPECT_EQ(r->message, "Invalid identifier or password");
  EXPECT_EQ(fake_->calls(kXrpcCreateRecord), 0);
  EXPECT_FALSE(client->session().has_value());
  EXPECT_EQ(client->GetPost(Rkey(1))->http_status, 401);
}

TEST_F(BlueskyClientTest, LoginRateLimitIsReported) {
  fake_->set_session_limit(2);
  auto client = Client(*fake_);
  ASSERT_TRUE(client->Login()->ok());
  ASSERT_TRUE(client->Login()->ok());
  auto r = client->Login();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->rate_limited());
  EXPECT_EQ(r->call, kXrpcCreateSession);
  EXPECT_EQ(r->rate_limit.policy, "2;w=300");
  EXPECT_TRUE(client->session().has_value());  // the earlier session stays
}

TEST_F(BlueskyClientTest, InvalidRecordIsA400) {
  auto client = Client(*fake_);
  auto r = client->CreatePost(Rkey(1), Record(std::string(301, 'a')));  // 301 graphemes
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->http_status, 400);
  EXPECT_EQ(r->error, "InvalidRequest");
  EXPECT_TRUE(absl::StrContains(r->message, "300 graphemes")) << r->message;
  r = client->CreatePost(Rkey(1), R"({"$type":"app.bsky.feed.like","text":"x"})");
  EXPECT_EQ(r->http_status, 400);
  EXPECT_TRUE(absl::StrContains(r->message, "Invalid $type")) << r->message;
  r = client->CreatePost(Rkey(1), R"({"text":"no date"})");
  EXPECT_EQ(r->http_status, 400);
  EXPECT_TRUE(absl::StrContains(r->message, "createdAt")) << r->message;
  EXPECT_TRUE(client->CreatePost(Rkey(1), Record(std::string(300, 'a')))->ok());
  EXPECT_EQ(fake_->posts().size(), 1u);
}

TEST_F(BlueskyClientTest, ServerErrorsAreResults) {
  auto client = Client(*fake_);
  fake_->Push(kXrpcCreateRecord, FakeReply::ServerError(503));
  FakeReply html = FakeReply::ServerError(502);
  html.html = true;
  fake_->Push(kXrpcCreateRecord, html);
  auto r = client->CreatePost(Rkey(1), Record("hello"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->http_status, 503);
  EXPECT_FALSE(r->ok());
  r = client->CreatePost(Rkey(1), Record("hello"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->http_status, 502);
  EXPECT_TRUE(r->error.empty());
  EXPECT_TRUE(absl::StartsWith(r->message, "<html>")) << r->message;
  EXPECT_TRUE(fake_->posts().empty());
  EXPECT_TRUE(client->CreatePost(Rkey(1), Record("hello"))->ok());
}

TEST_F(BlueskyClientTest, SlowAnswerTimesOutWithUnknownOutcome) {
  FakeReply slow = FakeReply::Late(absl::Milliseconds(800));
  // Created; the answer comes after the client gave up.
  auto client = Client(*fake_, kAccount, absl::Milliseconds(300));
  ASSERT_TRUE(client->Login()->ok());
  fake_->Push(kXrpcCreateRecord, slow);
  auto r = client->CreatePost(Rkey(1), Record("late"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_TRUE(RequestMayHaveArrived(r.status()));
  // The fake answers one connection at a time: ask with a patient client.
  EXPECT_EQ(Client(*fake_)->GetPost(Rkey(1))->record_text, "late");
}

TEST_F(BlueskyClientTest, BadKeysAndRecordsAreRefusedBeforeSending) {
  auto client = Client(*fake_);
  for (const char* rkey : {"", "self", "3JZFCIJPJ2Z2A", "kjzfcijpj2z2a"}) {
    auto r = client->CreatePost(rkey, Record("x"));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << rkey;
    EXPECT_TRUE(absl::StrContains(r.status().message(), "rkey")) << r.status();
    EXPECT_EQ(client->GetPost(rkey).status().code(), absl::StatusCode::kInvalidArgument);
  }
  for (const char* record : {"", "[1]", "{bad", "\"text\""}) {
    EXPECT_EQ(client->CreatePost(Rkey(1), record).status().code(),
              absl::StatusCode::kInvalidArgument)
        << record;
  }
  EXPECT_TRUE(fake_->methods().empty());
}

// The fake's own rules, for requests our client never makes.
TEST_F(BlueskyClientTest, FakeEnforcesTokensReposAndRecordKeys) {
  auto client = Client(*fake_);
  ASSERT_TRUE(client->Login()->ok());
  const BlueskySession s = *client->session();
  const std::string create = "/xrpc/com.atproto.repo.createRecord";
  auto body = [&](const std::string& repo, const std::string& rkey) {
    return absl::StrCat(R"({"repo":")", repo, R"(","collection":"app.bsky.feed.post","rkey":")",
                        rkey, R"(","record":)", Record("x"), "}");
  };
  // rkey not a TID.
  HttpResponse r = Raw(*fake_, "POST", create, body(s.did, "self"), s.access_jwt);
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(absl::StrContains(r.body, "Invalid record key")) << r.body;
  // Another account's repo.
  r = Raw(*fake_, "POST", create, body(kOther.did, Rkey(1)), s.access_jwt);
  EXPECT_EQ(r.status, 401);
  // The refresh token is no access token, and vice versa.
  r = Raw(*fake_, "POST", create, body(s.did, Rkey(1)), s.refresh_jwt);
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(absl::StrContains(r.body, "InvalidToken")) << r.body;
  r = Raw(*fake_, "POST", "/xrpc/com.atproto.server.refreshSession", "", s.access_jwt);
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(absl::StrContains(r.body, "InvalidToken")) << r.body;
  // No token at all.
  r = Raw(*fake_, "POST", create, body(s.did, Rkey(1)));
  EXPECT_EQ(r.status, 401);
  EXPECT_TRUE(absl::StrContains(r.body, "AuthMissing")) << r.body;
  // A re-used refresh token (within the grace period) gets the same successor.
  r = Raw(*fake_, "POST", "/xrpc/com.atproto.server.refreshSession", "", s.refresh_jwt);
  ASSERT_EQ(r.status, 200);
  HttpResponse again =
      Raw(*fake_, "POST", "/xrpc/com.atproto.server.refreshSession", "", s.refresh_jwt);
  EXPECT_EQ(nlohmann::json::parse(again.body)["refreshJwt"],
            nlohmann::json::parse(r.body)["refreshJwt"]);
  // getRecord needs its parameters; unknown methods are not implemented.
  EXPECT_EQ(Raw(*fake_, "GET", "/xrpc/com.atproto.repo.getRecord?repo=x", "").status, 400);
  EXPECT_EQ(Raw(*fake_, "GET", "/xrpc/app.bsky.feed.getTimeline", "").status, 501);
  EXPECT_EQ(Raw(*fake_, "GET", "/xrpc/com.atproto.repo.createRecord", "").status, 400);
  EXPECT_TRUE(fake_->posts().empty());
  // What the e2e suite reads.
  ASSERT_TRUE(client->CreatePost(Rkey(1), Record("seen"))->ok());
  r = Raw(*fake_, "GET", "/_fake/received", "");
  EXPECT_EQ(nlohmann::json::parse(r.body)["posts"][0]["text"], "seen");
}

TEST(BlueskyClientTlsTest, PostsOverVerifiedTls) {
  auto fake = FakeBlueskyServer::Start({kAccount}, "127.0.0.1:0", /*tls=*/true);
  ASSERT_TRUE(fake.ok()) << fake.status();
  ASSERT_TRUE(absl::StartsWith((*fake)->base_url(), "https://"));
  auto r = Client(**fake)->CreatePost(Rkey(1), Record("over TLS"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok());
  // Without the CA the certificate is refused, before anything is sent.
  auto untrusted =
      BlueskyClient::Create(Options((*fake)->base_url(), kAccount.handle, kAccount.password));
  ASSERT_TRUE(untrusted.ok());
  auto refused = (*untrusted)->CreatePost(Rkey(2), Record("x"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_FALSE(RequestMayHaveArrived(refused.status()));
  EXPECT_EQ((*fake)->posts().size(), 1u);
}

TEST(BlueskyClientStandaloneTest, UnreachablePdsIsUnavailableAndNothingWasSent) {
  int port = 0;
  {
    auto s = FakeBlueskyServer::Start();
    ASSERT_TRUE(s.ok());
    port = (*s)->port();
  }
  auto c = BlueskyClient::Create(Options(absl::StrCat("http://127.0.0.1:", port), "a", "b"));
  ASSERT_TRUE(c.ok());
  auto r = (*c)->CreatePost(Rkey(1), Record("x"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_FALSE(RequestMayHaveArrived(r.status()));
}

TEST(BlueskyClientStandaloneTest, PlainHttpOnlyToLoopbackAndCredentialsRequired) {
  for (const char* url : {"http://bsky.social", "http://10.0.0.5:2583", "bsky.social",
                          "http://127.0.0.1.evil.com", "https://user:pw@bsky.social"}) {
    auto c = BlueskyClient::Create(Options(url, "a", "b"));
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << url;
    EXPECT_TRUE(absl::StrContains(c.status().message(), "Bluesky PDS URL")) << c.status();
  }
  EXPECT_TRUE(BlueskyClient::Create(Options("https://bsky.social", "a", "b")).ok());
  EXPECT_TRUE(BlueskyClient::Create(Options("http://localhost:2583", "a", "b")).ok());
  EXPECT_TRUE(BlueskyClient::Create(Options("http://[::1]:2583", "a", "b")).ok());
  auto c = BlueskyClient::Create(Options("https://bsky.social", "", "b"));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(c.status().message(), "identifier")) << c.status();
  c = BlueskyClient::Create(Options("https://bsky.social", "a", ""));
  EXPECT_TRUE(absl::StrContains(c.status().message(), "app password")) << c.status();
}

TEST(BlueskyClientStandaloneTest, RecordAndUrls) {
  EXPECT_EQ(BlueskyPostRecord("hi \xF0\x9F\x9A\xBD", absl::FromUnixMillis(1788000000123)),
            R"({"$type":"app.bsky.feed.post","createdAt":"2026-08-29T10:40:00.123Z",)"
            R"("langs":["en"],"text":"hi )"
            "\xF0\x9F\x9A\xBD"
            R"("})");
  EXPECT_EQ(BlueskyPostRecord("x", absl::FromUnixSeconds(0), {}),
            R"({"$type":"app.bsky.feed.post","createdAt":"1970-01-01T00:00:00.000Z","text":"x"})");
  // Invalid UTF-8 is repaired rather than thrown on.
  EXPECT_TRUE(absl::StrContains(BlueskyPostRecord("a\xFF", absl::UnixEpoch()), "a\xEF\xBF\xBD"));
  EXPECT_EQ(BlueskyPostUri("did:plc:x", "3lenax2wkm2la"),
            "at://did:plc:x/app.bsky.feed.post/3lenax2wkm2la");
  EXPECT_EQ(BlueskyPostWebUrl("peebot.test", "3lenax2wkm2la"),
            "https://bsky.app/profile/peebot.test/post/3lenax2wkm2la");
}

TEST(BlueskyClientStandaloneTest, InterpretsAnswers) {
  auto r = InterpretBlueskyResponse(kXrpcCreateRecord, 200, {}, R"({"uri":"at://x"})");
  EXPECT_FALSE(r.ok());  // no cid
  EXPECT_EQ(r.error, "InvalidResponse");
  r = InterpretBlueskyResponse(kXrpcCreateSession, 200, {}, R"({"accessJwt":"a","did":"d"})");
  EXPECT_EQ(r.error, "InvalidResponse");
  r = InterpretBlueskyResponse(kXrpcGetRecord, 200, {}, "not json");
  EXPECT_EQ(r.error, "InvalidResponse");
  r = InterpretBlueskyResponse(kXrpcCreateRecord, 400, {},
                               R"({"error":"ExpiredToken","message":"Token has expired"})");
  EXPECT_TRUE(r.token_expired());
  EXPECT_TRUE(InterpretBlueskyResponse(kXrpcCreateRecord, 401, {}, "").token_expired());
  EXPECT_FALSE(InterpretBlueskyResponse(kXrpcCreateRecord, 400, {}, R"({"error":"InvalidRequest"})")
                   .token_expired());
  r = InterpretBlueskyResponse(kXrpcCreateRecord, 429,
                               {{"ratelimit-reset", "1788000000"},
                                {"ratelimit-remaining", "0"},
                                {"ratelimit-limit", "5000"},
                                {"retry-after", "65"}},
                               "");
  EXPECT_EQ(r.rate_limit.reset, absl::FromUnixSeconds(1788000000));
  EXPECT_EQ(r.rate_limit.retry_after, absl::Seconds(65));
  EXPECT_EQ(r.rate_limit.remaining, 0);
}

}  // namespace
}  // namespace iss::peebot
