#include "services/peebot/text_limits.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/peebot/composer.h"

namespace iss::peebot {
namespace {

constexpr char kFamily[] =  // man ZWJ woman ZWJ girl ZWJ girl: one grapheme, 25 bytes
    "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7\xE2\x80\x8D\xF0\x9F"
    "\x91\xA7";
constexpr char kNamaste[] =
    "\xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87";
constexpr char kFlagUs[] = "\xF0\x9F\x87\xBA\xF0\x9F\x87\xB8";
constexpr char kEllipsis[] = "\xE2\x80\xA6";

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// atproto's utf8-grapheme-len.test.ts vectors (notes §1.6), plus a few more.
TEST(TextLimitsTest, GraphemesMatchTheAtprotoVectors) {
  const std::vector<std::string> ones = {"a",
                                         "~",
                                         "\xC3\xB6",
                                         "\xC3\xB1",
                                         "\xC2\xA9",
                                         "\xE2\xBD\x98",
                                         "\xE2\x98\x8E",
                                         "\xF0\x93\x8B\x93",
                                         "\xF0\x9F\x98\x80",
                                         kFamily};
  std::string all;
  for (const std::string& s : ones) {
    EXPECT_EQ(Graphemes(s), 1u) << s;
    all += s;
  }
  EXPECT_EQ(Graphemes(all), 10u);
  EXPECT_EQ(Graphemes(kNamaste), 3u);                  // Indic conjunct (GB9c)
  EXPECT_EQ(MeasureText(kNamaste, XTextLimit()), 6u);  // code points
  EXPECT_EQ(Graphemes(kFlagUs), 1u);
  EXPECT_EQ(Graphemes(Repeat(kFlagUs, 3)), 3u);  // regional indicators pair up
  EXPECT_EQ(Graphemes("e\xCC\x81"), 1u);         // e + combining acute
  EXPECT_EQ(Graphemes("\r\n"), 1u);
  EXPECT_EQ(Graphemes("\xF0\x9F\x9A\xBD\xF0\x9F\x92\xA6"), 2u);  // toilet, droplets
  EXPECT_EQ(Graphemes(""), 0u);
  EXPECT_EQ(Graphemes("\xFF"), 1u);  // an invalid byte counts as one replacement character
}

TEST(TextLimitsTest, BlueskyCountsGraphemesAndBytes) {
  const TextLimit bsky = BlueskyTextLimit();
  EXPECT_TRUE(FitsLimit(std::string(300, 'a'), bsky));
  EXPECT_FALSE(FitsLimit(std::string(301, 'a'), bsky));
  // 300 family emoji are 300 graphemes but 7500 bytes: over the byte limit.
  EXPECT_EQ(MeasureText(Repeat(kFamily, 300), bsky), 300u);
  EXPECT_FALSE(FitsLimit(Repeat(kFamily, 300), bsky));
  EXPECT_TRUE(FitsLimit(Repeat(kFamily, 120), bsky));  // 3000 bytes exactly
  EXPECT_FALSE(FitsLimit(Repeat(kFamily, 120) + "a", bsky));
  // 300 Devanagari words of 3 graphemes = 900 graphemes; 100 fit, 101 do not.
  EXPECT_TRUE(FitsLimit(Repeat(kNamaste, 100), bsky));
  EXPECT_FALSE(FitsLimit(Repeat(kNamaste, 101), bsky));
  // Bluesky has no URL rule: a URL counts its characters.
  EXPECT_EQ(MeasureText("https://example.com/abc", bsky), 23u);
  EXPECT_EQ(MeasureText("https://example.com/abcdef", bsky), 26u);
}

TEST(TextLimitsTest, MastodonCountsUrlsAs23AndRemoteMentionsShort) {
  const TextLimit masto = MastodonTextLimit();
  const std::string url = "https://example.com/" + std::string(200, 'p');
  EXPECT_EQ(MeasureText(url, masto), 23u);
  EXPECT_EQ(MeasureText("see " + url + ".", masto), 4u + 23u + 1u);  // the dot is not the URL's
  EXPECT_EQ(MeasureText("HTTP://EXAMPLE.COM/x", masto), 23u);
  EXPECT_EQ(MeasureText("ftp://example.com/" + std::string(30, 'x'), masto), 48u);
  EXPECT_EQ(MeasureText("xhttps://example.com/" + std::string(30, 'x'), masto), 51u);  // no URL
  EXPECT_EQ(MeasureText("hi @alice@example.social!", masto), 10u);  // "hi @alice!"
  EXPECT_EQ(MeasureText("@bob", masto), 4u);
  EXPECT_EQ(MeasureText("mail a@b.example", masto), 16u);             // not a mention
  EXPECT_EQ(MeasureText(kFlagUs, masto), 1u);                         // graphemes, not code points
  EXPECT_TRUE(FitsLimit(std::string(476, 'a') + " " + url, masto));   // 477 + 23
  EXPECT_FALSE(FitsLimit(std::string(477, 'a') + " " + url, masto));  // 501
  const TextLimit small = MastodonTextLimit(100, 30);
  EXPECT_EQ(MeasureText(url, small), 30u);
  EXPECT_TRUE(FitsLimit(std::string(100, 'a'), small));
  EXPECT_FALSE(FitsLimit(std::string(101, 'a'), small));
}

TEST(TextLimitsTest, XCountsCodePoints) {
  const TextLimit x = XTextLimit();
  EXPECT_EQ(x.max_units, kMaxPostChars);
  EXPECT_EQ(MeasureText(kFlagUs, x), 2u);
  EXPECT_EQ(MeasureText(kNamaste, x), 6u);
  EXPECT_TRUE(FitsLimit(std::string(280, 'a'), x));
  EXPECT_FALSE(FitsLimit(std::string(281, 'a'), x));
}

TEST(TextLimitsTest, FitTextLeavesAFittingTextAlone) {
  const std::string text = "Urine tank +3% at 12:30 UTC. \xF0\x9F\x9A\xBD";
  EXPECT_EQ(FitText(text, BlueskyTextLimit()), text);
  EXPECT_EQ(FitText(text, MastodonTextLimit()), text);
  EXPECT_EQ(FitText(text, XTextLimit()), text);
}

TEST(TextLimitsTest, FitTextCutsOnGraphemeBoundariesWithAnEllipsis) {
  const TextLimit bsky = BlueskyTextLimit();
  // Graphemes: 299 + ellipsis.
  std::string fit = FitText(std::string(400, 'a'), bsky);
  EXPECT_EQ(fit, std::string(299, 'a') + kEllipsis);
  EXPECT_EQ(Graphemes(fit), 300u);
  // Bytes: ZWJ families are never split; as many whole ones as fit in 3000
  // bytes with the 3-byte ellipsis (119 x 25 + 3 = 2978).
  fit = FitText(Repeat(kFamily, 300), bsky);
  EXPECT_EQ(fit, Repeat(kFamily, 119) + kEllipsis);
  EXPECT_TRUE(FitsLimit(fit, bsky));
  // Flags are never split into two regional indicators (X counts code points).
  const TextLimit tiny{TextLimit::Unit::kCodePoints, 6, 0, 0, false};
  fit = FitText(Repeat(kFlagUs, 5), tiny);
  EXPECT_EQ(fit, Repeat(kFlagUs, 2) + kEllipsis);  // 4 + 1 code points; a 3rd flag would be 7
  // Devanagari conjuncts stay whole.
  const TextLimit four{TextLimit::Unit::kGraphemes, 4, 0, 0, false};
  EXPECT_EQ(FitText(std::string(kNamaste) + kNamaste, four), std::string(kNamaste) + kEllipsis);
  // No white space before the ellipsis.
  const TextLimit ten{TextLimit::Unit::kGraphemes, 10, 0, 0, false};
  EXPECT_EQ(FitText("abcd        efghijklmnop", ten), std::string("abcd") + kEllipsis);
}

TEST(TextLimitsTest, FitTextNeverCutsALink) {
  const TextLimit masto = MastodonTextLimit(40);
  const std::string url = "https://example.com/" + std::string(60, 'p');
  // 10 + 1 + 23 = 34 fits; adding 10 more characters does not, and the cut
  // must fall after the URL (or before it), never inside.
  const std::string text = "0123456789 " + url + " and then more words";
  const std::string fit = FitText(text, masto);
  EXPECT_TRUE(FitsLimit(fit, masto)) << fit;
  EXPECT_EQ(fit, "0123456789 " + url + " and" + kEllipsis);  // 11 + 23 + 4 + 1
  const TextLimit small = MastodonTextLimit(30);             // 11 + 23 > 30: the URL goes whole
  EXPECT_EQ(FitText(text, small), std::string("0123456789") + kEllipsis);
}

TEST(TextLimitsTest, FitTextRepairsInvalidUtf8AndHandlesTinyLimits) {
  const std::string fit = FitText(
      "ab\xFF"
      "cdef",
      TextLimit{TextLimit::Unit::kCodePoints, 4, 0, 0, false});
  EXPECT_EQ(fit, std::string("ab\xEF\xBF\xBD") + kEllipsis);
  EXPECT_EQ(FitText("abc", TextLimit{TextLimit::Unit::kCodePoints, 0, 0, 0, false}), "");
  EXPECT_EQ(FitText("abc", TextLimit{TextLimit::Unit::kCodePoints, 1, 0, 0, false}), kEllipsis);
  EXPECT_EQ(FitText("abc", TextLimit{TextLimit::Unit::kCodePoints, 5, 2, 0, false}), "");
}

}  // namespace
}  // namespace iss::peebot
