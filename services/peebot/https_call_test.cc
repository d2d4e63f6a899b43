#include "services/peebot/https_call.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/peebot/testing/fake_http_server.h"

namespace iss::peebot {
namespace {

using testing::FakeHttpRequest;
using testing::FakeHttpResponse;
using testing::FakeHttpServer;

TEST(HttpEndpointTest, ParsesHostPortPathAndQuery) {
  auto e = ParseHttpEndpoint("https://bsky.social", "PDS URL");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_TRUE(e->tls);
  EXPECT_EQ(e->host, "bsky.social");
  EXPECT_EQ(e->port, "443");
  EXPECT_EQ(e->path, "");
  EXPECT_EQ(e->HostHeader(), "bsky.social");
  EXPECT_EQ(e->Origin(), "https://bsky.social:443");
  e = ParseHttpEndpoint("https://hooks.example.com:8443/api/hook/?wait=true#frag", "hook");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->port, "8443");
  EXPECT_EQ(e->path, "/api/hook/?wait=true");
  EXPECT_EQ(e->HostHeader(), "hooks.example.com:8443");
  e = ParseHttpEndpoint("https://example.com?x=1", "hook");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->path, "/?x=1");
  e = ParseHttpEndpoint("http://[::1]:8080/base/", "x");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->host, "[::1]");
  EXPECT_EQ(e->port, "8080");
  EXPECT_EQ(e->path, "/base");
  e = ParseHttpEndpoint("http://[::1]", "x");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->port, "80");
}

TEST(HttpEndpointTest, RefusesBadUrlsNamingWhat) {
  for (const char* url :
       {"", "bsky.social", "ftp://x", "https://", "https://:443", "http://[]:80", "https://host:0",
        "https://host:65536", "https://host:x", "https://user:pw@host", "http://example.com",
        "http://10.1.2.3", "http://127.0.0.1.nip.io", "HTTP://127.0.0.1"}) {
    auto e = ParseHttpEndpoint(url, "the test URL");
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << url;
    EXPECT_TRUE(absl::StrContains(e.status().message(), "the test URL")) << e.status();
  }
  for (const char* url :
       {"http://127.0.0.1:1", "http://localhost", "http://LocalHost:9/x", "http://[::1]:1"}) {
    EXPECT_TRUE(ParseHttpEndpoint(url, "x").ok()) << url;
  }
}

TEST(SendHttpTest, SendsMethodTargetHeadersAndBody) {
  FakeHttpRequest seen;
  auto server = FakeHttpServer::Start(
      [&](const FakeHttpRequest& req) {
        seen = req;
        FakeHttpResponse r = FakeHttpResponse::Text(201, "made");
        r.headers.emplace_back("X-Count", "42");
        return r;
      },
      {});
  ASSERT_TRUE(server.ok());
  auto e = ParseHttpEndpoint((*server)->base_url(), "x");
  HttpRequest req{"PUT", "/a/b?q=1+2&r=%2F", {{"X-Mine", "yes"}}, "payload"};
  auto res = SendHttp(*e, req, {});
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 201);
  EXPECT_EQ(res->body, "made");
  EXPECT_EQ(IntHeader(res->headers, "x-count"), 42);
  EXPECT_FALSE(IntHeader(res->headers, "content-type").has_value());
  EXPECT_EQ(seen.method, "PUT");
  EXPECT_EQ(seen.path, "/a/b");
  EXPECT_EQ(seen.query["q"], "1 2");
  EXPECT_EQ(seen.query["r"], "/");
  EXPECT_EQ(seen.Header("x-mine"), "yes");
  EXPECT_EQ(seen.Header("host"), absl::StrCat("127.0.0.1:", (*server)->port()));
  EXPECT_EQ(seen.body, "payload");
  EXPECT_EQ(SendHttp(*e, {"BREW", "/", {}, ""}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// What a failure says about delivery: the basis of exactly-once retries.
TEST(SendHttpTest, TellsNotSentFromMaybeArrived) {
  int requests = 0;
  auto server = FakeHttpServer::Start(
      [&](const FakeHttpRequest&) {
        ++requests;
        return FakeHttpResponse::Drop();
      },
      {});
  ASSERT_TRUE(server.ok());
  auto e = ParseHttpEndpoint((*server)->base_url(), "x");
  auto res = SendHttp(*e, {"POST", "/", {}, "x"}, {absl::Seconds(5), "", "Test API"});
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), absl::StatusCode::kUnavailable) << res.status();
  EXPECT_TRUE(absl::StartsWith(res.status().message(), "Test API")) << res.status();
  EXPECT_TRUE(RequestMayHaveArrived(res.status()));
  EXPECT_EQ(requests, 1);
  server->reset();
  res = SendHttp(*e, {"POST", "/", {}, "x"}, {});
  EXPECT_EQ(res.status().code(), absl::StatusCode::kUnavailable) << res.status();
  EXPECT_FALSE(RequestMayHaveArrived(res.status()));
  EXPECT_FALSE(RequestMayHaveArrived(absl::OkStatus()));
  EXPECT_FALSE(RequestMayHaveArrived(absl::UnavailableError("other")));
}

}  // namespace
}  // namespace iss::peebot
