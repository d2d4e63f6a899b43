#include "services/peebot/oauth1.h"

#include "gtest/gtest.h"

namespace iss::peebot {
namespace {

// X's "Creating a signature" guide.
const OAuthCredentials kGuide{"xvz1evFS4wEEPTGEFPHBog",
                              "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
                              "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
                              "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"};
constexpr char kNonce[] = "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg";
constexpr char kTimestamp[] = "1318622958";
const OAuthParams kStatus{{"status", "Hello Ladies + Gentlemen, a signed OAuth request!"}};

TEST(OAuth1Test, ReproducesTheGuideVector) {
  OAuth1Signer signer(kGuide);
  auto sig = signer.Signature(
      "POST", "https://api.twitter.com/1.1/statuses/update.json?include_entities=true", kStatus,
      kNonce, kTimestamp);
  ASSERT_TRUE(sig.ok()) << sig.status();
  EXPECT_EQ(*sig, "hCtSmYh+iHYCEqBWrE7C7hYmtUk=");
}

TEST(OAuth1Test, TheHostIsPartOfTheSignature) {
  OAuth1Signer signer(kGuide);
  auto sig =
      signer.Signature("POST", "https://api.x.com/1.1/statuses/update.json?include_entities=true",
                       kStatus, kNonce, kTimestamp);
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(*sig, "Ls93hJiZbQ3akF3HF3x1Bz8/zU4=");
}

TEST(OAuth1Test, BaseStringMatchesTheGuide) {
  auto base =
      NormalizeUrl("HTTPS://API.Twitter.com:443/1.1/statuses/update.json?include_entities=true");
  ASSERT_TRUE(base.ok());
  EXPECT_EQ(base->uri, "https://api.twitter.com/1.1/statuses/update.json");
  ASSERT_EQ(base->query.size(), 1u);
  OAuthParams params = base->query;
  params.insert(params.end(), kStatus.begin(), kStatus.end());
  params.insert(params.end(), {{"oauth_consumer_key", kGuide.consumer_key},
                               {"oauth_nonce", kNonce},
                               {"oauth_signature_method", "HMAC-SHA1"},
                               {"oauth_timestamp", kTimestamp},
                               {"oauth_token", kGuide.token},
                               {"oauth_version", "1.0"}});
  const std::string s = SignatureBaseString("post", base->uri, params);
  EXPECT_EQ(s.substr(0, 74),
            "POST&https%3A%2F%2Fapi.twitter.com%2F1.1%2Fstatuses%2Fupdate.json&include_");
  EXPECT_NE(s.find("status%3DHello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%"
                   "2520OAuth%2520request%2521"),
            std::string::npos);
}

TEST(OAuth1Test, HeaderRoundTripsThroughTheParser) {
  OAuth1Signer signer(kGuide);
  auto header = signer.AuthorizationHeader("POST", "http://127.0.0.1:8080/2/tweets", {});
  ASSERT_TRUE(header.ok());
  auto fields = ParseAuthorizationHeader(*header);
  ASSERT_TRUE(fields.ok()) << fields.status();
  EXPECT_EQ(fields->at("oauth_consumer_key"), kGuide.consumer_key);
  EXPECT_EQ(fields->at("oauth_token"), kGuide.token);
  EXPECT_EQ(fields->at("oauth_signature_method"), "HMAC-SHA1");
  auto again = signer.Signature("POST", "http://127.0.0.1:8080/2/tweets", {},
                                fields->at("oauth_nonce"), fields->at("oauth_timestamp"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(fields->at("oauth_signature"), *again);
  // Two headers never share a nonce.
  auto other = signer.AuthorizationHeader("POST", "http://127.0.0.1:8080/2/tweets", {});
  EXPECT_NE(ParseAuthorizationHeader(*other)->at("oauth_nonce"), fields->at("oauth_nonce"));
}

TEST(OAuth1Test, PercentEncodingIsRfc3986) {
  EXPECT_EQ(PercentEncode("Ladies + Gentlemen"), "Ladies%20%2B%20Gentlemen");
  EXPECT_EQ(PercentEncode("An encoded string!"), "An%20encoded%20string%21");
  EXPECT_EQ(PercentEncode("Dogs, Cats & Mice"), "Dogs%2C%20Cats%20%26%20Mice");
  EXPECT_EQ(PercentEncode("-._~"), "-._~");
  EXPECT_EQ(PercentEncode("\xE2\x98\x83"), "%E2%98%83");
}

TEST(OAuth1Test, RejectsMalformedInput) {
  EXPECT_FALSE(NormalizeUrl("api.x.com/2/tweets").ok());
  EXPECT_FALSE(NormalizeUrl("ftp://api.x.com/").ok());
  EXPECT_FALSE(NormalizeUrl("https:///2/tweets").ok());
  EXPECT_FALSE(NormalizeUrl("https://x.com/a?b=%zz").ok());
  EXPECT_FALSE(ParseAuthorizationHeader("Bearer abc").ok());
  EXPECT_FALSE(ParseAuthorizationHeader("OAuth oauth_nonce=abc").ok());
  EXPECT_FALSE(ParseAuthorizationHeader("OAuth oauth_nonce").ok());
  EXPECT_FALSE(ParseAuthorizationHeader("OAuth oauth_nonce=\"%4\"").ok());
}

}  // namespace
}  // namespace iss::peebot
