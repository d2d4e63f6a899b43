// ListDetections page tokens: only what the encoder writes, for a row inside
// the listed window, decodes (hand-made tokens used to reach SQL).
#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/event_id.h"
#include "gtest/gtest.h"
#include "services/peebot/store.h"

namespace iss::peebot {
namespace {

constexpr int64_t kStart = 1768046400000000;  // the listed window [start, end)
constexpr int64_t kEnd = kStart + 3600000000;

TEST(DetectionsToken, RoundTripsInsideTheWindow) {
  const std::string id = Sha256Hex("d");
  for (int64_t us : {kStart, kStart + 1, kEnd - 1}) {
    auto c = DecodeDetectionsToken(EncodeDetectionsToken({us, id}), kStart, kEnd);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->start_us, us);
    EXPECT_EQ(c->detection_id, id);
  }
}

TEST(DetectionsToken, HandMadeTokensAreRefused) {
  const std::string id = Sha256Hex("d");
  const std::string us = absl::StrCat(kStart + 5);
  auto raw = [](const std::string& text) { return absl::WebSafeBase64Escape(text); };
  const std::string good = EncodeDetectionsToken({kStart + 5, id});
  for (const std::string& token : {
           raw(absl::StrCat(us, ":\xff")),
           raw(absl::StrCat(us, ":", std::string(64, '\xff'))),
           raw(absl::StrCat(us, ":", std::string(63, 'a'), std::string(1, '\0'))),
           raw(absl::StrCat(std::numeric_limits<int64_t>::max(), ":", id)),
           raw(absl::StrCat(std::numeric_limits<int64_t>::min(), ":", id)),
           raw(absl::StrCat(kStart - 1, ":", id)),
           raw(absl::StrCat(kEnd, ":", id)),
           raw(absl::StrCat("+", us, ":", id)),
           raw(absl::StrCat("0", us, ":", id)),
           raw(absl::StrCat(" ", us, ":", id)),
           raw(absl::StrCat(us, ":", id.substr(1))),
           raw(absl::StrCat(us, ":", id, "0")),
           raw(absl::StrCat(us, ":", id, ":x")),
           raw(absl::StrCat(us, id)),
           raw(":"),
           raw("99999999999999999999:" + id),
           good + "=",
           good + "==",
           good + "\n",
           "!" + good,
           std::string(600, 'A'),
       }) {
    SCOPED_TRACE(token);
    auto c = DecodeDetectionsToken(token, kStart, kEnd);
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(c.status().message().substr(0, 11), "page_token:") << c.status();
  }
  std::string upper = id;
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  EXPECT_FALSE(DecodeDetectionsToken(raw(absl::StrCat(us, ":", upper)), kStart, kEnd).ok());
}

}  // namespace
}  // namespace iss::peebot
