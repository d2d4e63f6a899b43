#include "services/peebot/x_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <utility>  // before Asio

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/peebot/testing/fake_x_server.h"

namespace iss::peebot {
namespace {

using testing::FakeXReply;
using testing::FakeXServer;

const OAuthCredentials kCreds{"ck-test", "cs-secret", "tok-test", "ts-secret"};

std::unique_ptr<XClient> Client(const std::string& base, OAuthCredentials creds = kCreds,
                                absl::Duration timeout = absl::Seconds(5)) {
  auto c = XClient::Create({base, std::move(creds), timeout, ""});
  EXPECT_TRUE(c.ok()) << c.status();
  return std::move(*c);
}

// A raw HTTP exchange, to feed the fake server what our client never sends.
int RawStatus(int port, boost::beast::http::verb verb, const std::string& target,
              const std::string& body, const std::string& auth = "") {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  asio::io_context ioc;
  asio::ip::tcp::socket s(ioc);
  s.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, absl::StrCat("127.0.0.1:", port));
  if (!auth.empty()) req.set(http::field::authorization, auth);
  req.body() = body;
  req.prepare_payload();
  http::write(s, req);
  boost::beast::flat_buffer buf;
  http::response<http::string_body> res;
  boost::beast::error_code ec;
  http::read(s, buf, res, ec);
  return ec ? -1 : res.result_int();
}

class XClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = FakeXServer::Start(kCreds);
    ASSERT_TRUE(s.ok()) << s.status();
    fake_ = std::move(*s);
  }
  std::unique_ptr<FakeXServer> fake_;
};

TEST_F(XClientTest, CreatedPostCarriesTheIdAndPassesSignatureCheck) {
  auto r = Client(fake_->base_url())->CreatePost("urine tank +5 %");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->http_status, 201);
  ASSERT_EQ(fake_->posts().size(), 1u);
  EXPECT_EQ(r->post_id, fake_->posts()[0].id);
  EXPECT_EQ(fake_->posts()[0].text, "urine tank +5 %");
  EXPECT_EQ(fake_->rejected_auth(), 0);
}

TEST_F(XClientTest, WrongSecretsAreRejectedBySignature) {
  OAuthCredentials wrong = kCreds;
  wrong.token_secret = "not-the-secret";
  auto r = Client(fake_->base_url(), wrong)->CreatePost("hello");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->http_status, 401);
  EXPECT_EQ(fake_->rejected_auth(), 1);
  EXPECT_TRUE(fake_->posts().empty());
  wrong = kCreds;
  wrong.consumer_key = "someone-else";
  EXPECT_EQ(Client(fake_->base_url(), wrong)->CreatePost("hello")->http_status, 401);
}

TEST_F(XClientTest, RateLimitReportsTheResetTime) {
  const absl::Time reset = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) + 60);
  fake_->Push(FakeXReply::RateLimited(reset));
  auto r = Client(fake_->base_url())->CreatePost("hello");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->http_status, 429);
  ASSERT_TRUE(r->rate_limit_reset.has_value());
  EXPECT_EQ(*r->rate_limit_reset, reset);
}

TEST_F(XClientTest, DuplicateContentIsRecognised) {
  auto c = Client(fake_->base_url());
  ASSERT_EQ(c->CreatePost("same words")->http_status, 201);
  auto r = c->CreatePost("same words");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->http_status, 403);
  EXPECT_TRUE(r->duplicate);
  EXPECT_EQ(fake_->posts().size(), 1u);
}

TEST_F(XClientTest, ServerErrorIsAResultNotATransportError) {
  fake_->Push(FakeXReply::ServerError(503));
  auto r = Client(fake_->base_url())->CreatePost("hello");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->http_status, 503);
  EXPECT_FALSE(r->duplicate);
}

TEST_F(XClientTest, SlowAnswerTimesOut) {
  FakeXReply slow;
  slow.delay = absl::Milliseconds(800);
  fake_->Push(slow);
  auto r = Client(fake_->base_url(), kCreds, absl::Milliseconds(100))->CreatePost("hello");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
}

TEST(XClientTlsTest, PostsOverTlsWithAVerifiedCertificate) {
  auto fake = FakeXServer::Start(kCreds, "127.0.0.1:0", /*tls=*/true);
  ASSERT_TRUE(fake.ok()) << fake.status();
  ASSERT_TRUE(absl::StartsWith((*fake)->base_url(), "https://"));
  auto client =
      XClient::Create({(*fake)->base_url(), kCreds, absl::Seconds(5), (*fake)->ca_file()});
  ASSERT_TRUE(client.ok());
  auto r = (*client)->CreatePost("over TLS");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->http_status, 201);
  ASSERT_EQ((*fake)->posts().size(), 1u);
  EXPECT_EQ((*fake)->rejected_auth(), 0);  // the https:// URL is what was signed
}

TEST(XClientTlsTest, UntrustedCertificateIsRefused) {
  auto fake = FakeXServer::Start(kCreds, "127.0.0.1:0", /*tls=*/true);
  ASSERT_TRUE(fake.ok());
  // No CA file: the self-signed certificate is not in the system store.
  auto r = Client((*fake)->base_url())->CreatePost("over TLS");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_TRUE((*fake)->posts().empty());
}

TEST(XClientStandaloneTest, UnreachableServerIsUnavailable) {
  int port = 0;
  {
    auto s = FakeXServer::Start(kCreds);
    ASSERT_TRUE(s.ok());
    port = (*s)->port();
  }  // closed again: nothing listens there now
  auto r = Client(absl::StrCat("http://127.0.0.1:", port))->CreatePost("hello");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
}

TEST(XClientStandaloneTest, BadBaseUrlsAreRejected) {
  for (const char* url :
       {"api.x.com", "ftp://api.x.com", "https://", "http://host:99999", "http://host:abc"}) {
    EXPECT_EQ(XClient::Create({url, kCreds, absl::Seconds(1), ""}).status().code(),
              absl::StatusCode::kInvalidArgument)
        << url;
  }
  EXPECT_TRUE(XClient::Create({"https://api.x.com/", kCreds, absl::Seconds(1), ""}).ok());
}

// OAuth headers must not travel in clear text: http only to loopback (tests).
TEST(XClientStandaloneTest, PlainHttpOnlyToLoopback) {
  for (const char* url : {"http://api.x.com", "http://10.0.0.5:8080", "http://127.0.0.1.evil.com",
                          "HTTP://api.x.com", "http://localhost.example:80"}) {
    auto c = XClient::Create({url, kCreds, absl::Seconds(1), ""});
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << url;
    EXPECT_TRUE(absl::StrContains(c.status().message(), "https://")) << c.status();
  }
  for (const char* url : {"http://127.0.0.1:8080", "http://localhost:9", "http://LOCALHOST",
                          "http://[::1]:8080/base"}) {
    EXPECT_TRUE(XClient::Create({url, kCreds, absl::Seconds(1), ""}).ok()) << url;
  }
}

TEST(XClientStandaloneTest, InterpretsXAnswers) {
  auto r = InterpretXResponse(201, {}, R"({"data":{"id":"123","text":"t"}})");
  EXPECT_EQ(r.post_id, "123");
  r = InterpretXResponse(
      403, {},
      R"({"detail":"You are not allowed to create a Tweet with duplicate content.","status":403})");
  EXPECT_TRUE(r.duplicate);
  r = InterpretXResponse(403, {}, R"({"detail":"You are not permitted to perform this action."})");
  EXPECT_FALSE(r.duplicate);
  r = InterpretXResponse(429, {{"x-rate-limit-reset", "1700000000"}}, "not json");
  EXPECT_EQ(*r.rate_limit_reset, absl::FromUnixSeconds(1700000000));
  EXPECT_EQ(r.detail, "not json");
}

TEST_F(XClientTest, FakeServerRejectsBadRequests) {
  namespace http = boost::beast::http;
  EXPECT_EQ(RawStatus(fake_->port(), http::verb::post, "/2/tweets", R"({"text":"x"})"), 401);
  EXPECT_EQ(
      RawStatus(fake_->port(), http::verb::post, "/2/tweets", R"({"text":"x"})", "OAuth garbage"),
      401);
  EXPECT_EQ(RawStatus(fake_->port(), http::verb::get, "/2/tweets", ""), 405);
  EXPECT_EQ(RawStatus(fake_->port(), http::verb::post, "/1.1/statuses/update.json", ""), 404);
  EXPECT_EQ(RawStatus(fake_->port(), http::verb::post, "/2/tweets", std::string(70000, 'x')), 413);
  // A correctly signed request with a body that is not {"text": ...}.
  const std::string url = absl::StrCat(fake_->base_url(), "/2/tweets");
  auto auth = OAuth1Signer(kCreds).AuthorizationHeader("POST", url, {});
  ASSERT_TRUE(auth.ok());
  EXPECT_EQ(RawStatus(fake_->port(), http::verb::post, "/2/tweets", "{bad json", *auth), 400);
  // The same nonce again: a replayed request.
  EXPECT_EQ(RawStatus(fake_->port(), http::verb::post, "/2/tweets", R"({"text":"x"})", *auth), 401);
  EXPECT_TRUE(fake_->posts().empty());
}

}  // namespace
}  // namespace iss::peebot
