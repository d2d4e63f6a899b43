#include "services/peebot/tid.h"

#include "gtest/gtest.h"
#include "services/peebot/detector.h"

namespace iss::peebot {
namespace {

absl::Time At(const char* rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return t;
}

// Encodings from indigo's tid_test.go and computed with both reference
// algorithms (Go NewTID and JS s32encode), see the research notes §1.4.
TEST(TidTest, FormatsTheReferenceVectors) {
  EXPECT_EQ(FormatTid(0, 0), "2222222222222");
  EXPECT_EQ(FormatTid(1700000000000000, 0), "3ke6kg3wk2222");
  EXPECT_EQ(FormatTid(1700000000000000, 1023), "3ke6kg3wk22zz");
  EXPECT_EQ(FormatTid(1735689600123456, 7), "3lenax2wkm22b");
  // The 64-bit integer 0x8000000000000000 (top bit set): Go masks it to zero.
  EXPECT_EQ(FormatTid(int64_t{1} << 53, 0), "2222222222222");
  // Out-of-range clock ids are masked to 10 bits, like the Go implementation.
  EXPECT_EQ(FormatTid(1700000000000000, 1024), "3ke6kg3wk2222");
  EXPECT_EQ(FormatTid(kTidMaxMicros, kTidMaxClockId), "bzzzzzzzzzzzz");
}

TEST(TidTest, ParsesTheReferenceVectors) {
  auto t = ParseTid("3kao2cl6lyj2p");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->unix_micros, 1696134411208655);
  EXPECT_EQ(t->clock_id, 21);
  t = ParseTid("3jzfcijpj2z2a");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->unix_micros, 1688137381887007);
  EXPECT_EQ(t->clock_id, 6);
  // Valid syntax with the top bit set: the bit is not part of the timestamp.
  t = ParseTid("jzzzzzzzzzzzz");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->unix_micros, kTidMaxMicros);
  EXPECT_EQ(t->clock_id, kTidMaxClockId);
  t = ParseTid("2222222222222");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->unix_micros, 0);
  EXPECT_EQ(t->clock_id, 0);
}

TEST(TidTest, RoundTrips) {
  for (int64_t us : {int64_t{0}, int64_t{1}, int64_t{1700000000000000}, kTidMaxMicros}) {
    for (int clk : {0, 1, 550, 1023}) {
      const std::string s = FormatTid(us, clk);
      ASSERT_EQ(s.size(), kTidLength);
      ASSERT_TRUE(IsValidTid(s)) << s;
      auto t = ParseTid(s);
      ASSERT_TRUE(t.ok()) << s;
      EXPECT_EQ(t->unix_micros, us);
      EXPECT_EQ(t->clock_id, clk);
    }
  }
  // Sortable: later timestamps sort later as strings.
  EXPECT_LT(FormatTid(1700000000000000, 1023), FormatTid(1700000000000001, 0));
}

// The valid/invalid syntax lists of atproto.com/specs/tid and indigo's testdata.
TEST(TidTest, SyntaxVectors) {
  for (const char* s : {"3jzfcijpj2z2a", "7777777777777", "3zzzzzzzzzzzz", "2222222222222"}) {
    EXPECT_TRUE(IsValidTid(s)) << s;
  }
  for (const char* s :
       {"3jzfcijpj2z21", "0000000000000", "3JZFCIJPJ2Z2A", "3jzfcijpj2z2aa", "3jzfcijpj2z2", "222",
        "3jzf-cij-pj2z-2a", "zzzzzzzzzzzzz", "kjzfcijpj2z2a", ""}) {
    EXPECT_FALSE(IsValidTid(s)) << s;
    EXPECT_EQ(ParseTid(s).status().code(), absl::StatusCode::kInvalidArgument) << s;
  }
  EXPECT_NE(ParseTid("kjzfcijpj2z2a").status().message().find("start with"), std::string::npos);
  EXPECT_NE(ParseTid("222").status().message().find("13 characters"), std::string::npos);
  EXPECT_NE(ParseTid("3JZFCIJPJ2Z2A").status().message().find("alphabet"), std::string::npos);
}

TEST(TidTest, DetectionRecordKeyIsDeterministic) {
  const absl::Time start = At("2025-01-01T00:00:00.123456Z");
  const std::string id = DetectionId("NODE3000005", start);
  ASSERT_EQ(id.substr(0, 4), "fa26");  // sha256("NODE3000005|2025-01-01T00:00:00.123456Z")
  auto key = DetectionRecordKey(id, start);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, "3lenax2wkm2la");                 // clock id 0xfa26 & 0x3ff = 550
  EXPECT_EQ(*DetectionRecordKey(id, start), *key);  // same detection, same key, every time
  auto t = ParseTid(*key);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->unix_micros, absl::ToUnixMicros(start));
  EXPECT_EQ(t->clock_id, 550);
  // Another item at the same microsecond almost always gets another clock id.
  const std::string other = DetectionId("NODE3000004", start);
  EXPECT_NE(*DetectionRecordKey(other, start), *key);
  // Upper-case hex reads the same.
  EXPECT_EQ(*DetectionRecordKey("FA26", start), *key);
}

TEST(TidTest, DetectionRecordKeyRejectsBadInput) {
  const absl::Time start = At("2025-01-01T00:00:00Z");
  for (const char* id : {"", "fa2", "xyz0abc", "0x12"}) {
    auto k = DetectionRecordKey(id, start);
    EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_NE(k.status().message().find("detection_id"), std::string::npos) << k.status();
  }
  auto k = DetectionRecordKey("fa26", At("1969-12-31T23:59:59Z"));
  EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(k.status().message().find("start_time"), std::string::npos) << k.status();
  EXPECT_FALSE(DetectionRecordKey("fa26", At("2300-01-01T00:00:00Z")).ok());
}

}  // namespace
}  // namespace iss::peebot
