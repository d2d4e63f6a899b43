// iss-fake-social as the e2e suite will run it: a child process, configured by
// environment, talked to by the real clients over its printed ports.
#include <fstream>
#include <regex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/peebot/bluesky_client.h"
#include "services/peebot/mastodon_client.h"
#include "services/peebot/tid.h"
#include "services/peebot/webhook_client.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace iss::peebot {
namespace {

constexpr char kSecret[] = "whsec_c2VjcmV0LWtleS1mb3ItcGVlYm90LXRlc3Rz";

TEST(FakeSocialMainTest, ServesAllThreeNetworksFromTheEnvironment) {
  auto child = iss::testing::ChildProcess::Spawn({PEEBOT_FAKE_SOCIAL_BINARY,
                                                  {},
                                                  {{"ISS_FAKE_BLUESKY_PASSWORD", "e2e-pass"},
                                                   {"ISS_FAKE_MASTODON_TOKEN", "e2e-token"},
                                                   {"ISS_FAKE_WEBHOOK_SECRET", kSecret}},
                                                  "",
                                                  {{"bluesky", "ISS_FAKE_BLUESKY_ADDR"},
                                                   {"mastodon", "ISS_FAKE_MASTODON_ADDR"},
                                                   {"webhook", "ISS_FAKE_WEBHOOK_ADDR"}}});
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_TRUE((*child)->WaitForAddresses().ok()) << (*child)->ReadLog();
  const int bsky = (*child)->port("bluesky");
  const int masto = (*child)->port("mastodon");
  const int hook = (*child)->port("webhook");
  // The printed ports are the same (written before the address file).
  const std::string log = (*child)->ReadLog();
  EXPECT_NE(log.find(absl::StrCat("listening bluesky ", bsky)), std::string::npos) << log;
  EXPECT_NE(log.find(absl::StrCat("listening mastodon ", masto)), std::string::npos) << log;

  BlueskyOptions b;
  b.pds_url = absl::StrCat("http://127.0.0.1:", bsky);
  b.identifier = "peebot.test";
  b.app_password = "e2e-pass";
  auto bc = BlueskyClient::Create(b);
  ASSERT_TRUE(bc.ok());
  const std::string rkey = FormatTid(1788000000000000, 1);
  auto br = (*bc)->CreatePost(rkey, BlueskyPostRecord("e2e", absl::Now()));
  ASSERT_TRUE(br.ok()) << br.status();
  EXPECT_TRUE(br->ok()) << br->http_status << " " << br->error;

  MastodonOptions m;
  m.instance_url = absl::StrCat("http://127.0.0.1:", masto);
  m.access_token = "e2e-token";
  auto mc = MastodonClient::Create(m);
  ASSERT_TRUE(mc.ok());
  MastodonStatusRequest status;
  status.text = "e2e";
  status.idempotency_key = "peebot-e2e";
  EXPECT_TRUE((*mc)->PostStatus(status)->ok());
  EXPECT_TRUE((*mc)->PostStatus(status)->ok());  // replayed, not a second status

  WebhookOptions w;
  w.url = absl::StrCat("http://127.0.0.1:", hook, "/hook");
  w.secrets = {kSecret};
  auto wc = WebhookClient::Create(w);
  ASSERT_TRUE(wc.ok());
  EXPECT_TRUE((*wc)->Deliver("peebot_e2e", R"({"text":"e2e"})")->ok());
  EXPECT_TRUE((*wc)->Deliver("peebot_e2e", R"({"text":"e2e"})")->ok());  // deduped

  // What the e2e suite asserts on: exactly one of each.
  auto received = [](int port) {
    auto r = iss::testing::HttpGet(port, "/_fake/received");
    EXPECT_TRUE(r.ok() && r->first == 200);
    return nlohmann::json::parse(r.ok() ? r->second : "{}");
  };
  EXPECT_EQ(received(bsky)["posts"].size(), 1u);
  EXPECT_EQ(received(bsky)["posts"][0]["rkey"], rkey);
  EXPECT_EQ(received(masto)["statuses"].size(), 1u);
  EXPECT_EQ(received(hook)["deliveries"].size(), 1u);
  EXPECT_EQ((*child)->Stop(), 0);
}

TEST(FakeSocialMainTest, BadConfigurationExitsWithTheVariableNamed) {
  auto child =
      iss::testing::ChildProcess::Spawn({PEEBOT_FAKE_SOCIAL_BINARY,
                                         {},
                                         {{"ISS_FAKE_SOCIAL_NETWORKS", "bluesky,friendster"}},
                                         "",
                                         {}});
  ASSERT_TRUE(child.ok());
  EXPECT_EQ((*child)->WaitExit(absl::Seconds(10)), 2);
  EXPECT_NE((*child)->ReadLog().find("friendster"), std::string::npos) << (*child)->ReadLog();
  child = iss::testing::ChildProcess::Spawn(
      {PEEBOT_FAKE_SOCIAL_BINARY, {}, {{"ISS_FAKE_MASTODON_IDEMPOTENCY", "maybe"}}, "", {}});
  ASSERT_TRUE(child.ok());
  EXPECT_EQ((*child)->WaitExit(absl::Seconds(10)), 2);
  EXPECT_NE((*child)->ReadLog().find("ISS_FAKE_MASTODON_IDEMPOTENCY"), std::string::npos);
}

// Test tools document their variables in services/peebot/README.md (the
// main README's table covers only shipped programs).
TEST(FakeSocialMainTest, EveryVariableIsInThePeebotReadme) {
  auto child =
      iss::testing::ChildProcess::Spawn({PEEBOT_FAKE_SOCIAL_BINARY, {"--help"}, {}, "", {}});
  ASSERT_TRUE(child.ok());
  ASSERT_EQ((*child)->WaitExit(absl::Seconds(10)), 0);
  const std::string help = (*child)->ReadLog();
  std::ifstream in(PEEBOT_README);
  std::stringstream readme;
  readme << in.rdbuf();
  const std::regex var(R"(\n  (ISS_[A-Z0-9_]+)\s)");
  int n = 0;
  for (std::sregex_iterator it(help.begin(), help.end(), var), end; it != end; ++it, ++n) {
    EXPECT_NE(readme.str().find(absl::StrCat("`", (*it)[1].str(), "`")), std::string::npos)
        << (*it)[1].str() << " is not documented in services/peebot/README.md";
  }
  EXPECT_GE(n, 10) << help;
}

}  // namespace
}  // namespace iss::peebot
