#include "gateway/path_template.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iss::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

PathTemplate P(absl::string_view text) {
  auto t = PathTemplate::Parse(text);
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

TEST(PathTemplate, LiteralsMatchExactly) {
  PathTemplate t = P("/api/v1/items");
  EXPECT_TRUE(t.Match("/api/v1/items").has_value());
  EXPECT_FALSE(t.Match("/api/v1/items/").has_value());
  EXPECT_FALSE(t.Match("/api/v1/item").has_value());
  EXPECT_FALSE(t.Match("/api/v1").has_value());
  EXPECT_FALSE(t.Match("api/v1/items").has_value());
}

TEST(PathTemplate, SimpleVariableBindsOneDecodedSegment) {
  PathTemplate t = P("/api/v1/items/{item_id}/series");
  auto b = t.Match("/api/v1/items/NODE3000005/series");
  ASSERT_TRUE(b.has_value());
  EXPECT_THAT(*b, ElementsAre(Pair("item_id", "NODE3000005")));
  b = t.Match("/api/v1/items/a%2Fb%20c/series");
  ASSERT_TRUE(b.has_value());
  EXPECT_THAT(*b, ElementsAre(Pair("item_id", "a/b c")));
  EXPECT_FALSE(t.Match("/api/v1/items//series").has_value());
  EXPECT_FALSE(t.Match("/api/v1/items/a/b/series").has_value());
  EXPECT_FALSE(t.Match("/api/v1/items/%zz/series").has_value());
}

TEST(PathTemplate, VerbIsSplitOffTheLastSegment) {
  PathTemplate t = P("/api/v1/telemetry:window");
  EXPECT_EQ(t.verb(), "window");
  EXPECT_TRUE(t.Match("/api/v1/telemetry:window").has_value());
  EXPECT_FALSE(t.Match("/api/v1/telemetry:latest").has_value());
  EXPECT_FALSE(t.Match("/api/v1/telemetry").has_value());
  EXPECT_FALSE(t.Match("/api/v1/telemetry:window/x").has_value());
}

TEST(PathTemplate, MultiSegmentVariableAndVerb) {
  PathTemplate t = P("/v1/{name=shelves/*/books/*}:publish");
  auto b = t.Match("/v1/shelves/s1/books/b%2F2:publish");
  ASSERT_TRUE(b.has_value());
  // Inside a multi-segment variable an encoded '/' stays encoded.
  EXPECT_THAT(*b, ElementsAre(Pair("name", "shelves/s1/books/b%2F2")));
  EXPECT_FALSE(t.Match("/v1/shelves/s1/papers/b2:publish").has_value());
  EXPECT_EQ(t.OpenApiPath(), "/v1/{name}:publish");
}

TEST(PathTemplate, DoubleWildcardTakesTheRest) {
  PathTemplate t = P("/files/{path=**}");
  auto b = t.Match("/files/a/b/c.txt");
  ASSERT_TRUE(b.has_value());
  EXPECT_THAT(*b, ElementsAre(Pair("path", "a/b/c.txt")));
  b = t.Match("/files/x");
  ASSERT_TRUE(b.has_value());
  EXPECT_THAT(*b, ElementsAre(Pair("path", "x")));
}

TEST(PathTemplate, NestedFieldPathsAndSeveralVariables) {
  PathTemplate t = P("/v1/{shelf.id}/books/{book}");
  auto b = t.Match("/v1/7/books/9");
  ASSERT_TRUE(b.has_value());
  EXPECT_THAT(*b, ElementsAre(Pair("shelf.id", "7"), Pair("book", "9")));
}

TEST(PathTemplate, RejectsMalformedTemplates) {
  for (absl::string_view bad : {"", "/", "api/v1", "/a//b", "/a/", "/{x", "/x}", "/{a{b}}", "/{}",
                                "/{1x}", "/a/**/b", "/a:", "/{x}/{x}", "/a/b*c"}) {
    EXPECT_FALSE(PathTemplate::Parse(bad).ok()) << bad;
  }
}

TEST(PathTemplate, LiteralsAreMoreSpecificThanWildcards) {
  EXPECT_GT(P("/v1/books").Specificity(), P("/v1/{name}").Specificity());
  EXPECT_GT(P("/v1/{name}").Specificity(), P("/v1/{name=**}").Specificity());
}

TEST(PercentDecode, DecodesAndRejectsBadEscapes) {
  EXPECT_EQ(*PercentDecode("a%20b%2fc"), "a b/c");
  EXPECT_EQ(*PercentDecode("a%2Fb", /*keep_slash=*/true), "a%2Fb");
  EXPECT_FALSE(PercentDecode("%").ok());
  EXPECT_FALSE(PercentDecode("%4").ok());
  EXPECT_FALSE(PercentDecode("%G0").ok());
}

}  // namespace
}  // namespace iss::gateway
