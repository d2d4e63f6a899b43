#include "common/percent.h"

#include <gtest/gtest.h>

namespace iss::percent {
namespace {

TEST(Percent, UnreservedStayAndEverythingElseIsUpperCaseHex) {
  // RFC 3986 2.3's unreserved set, then a reserved, a space, a UTF-8 and a control byte.
  EXPECT_EQ(EncodeUnreserved("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(EncodeUnreserved("a b/c%\xC3\xA9\n"), "a%20b%2Fc%25%C3%A9%0A");
  EXPECT_EQ(EncodeUnreserved(std::string_view("\0", 1)), "%00");
}

TEST(Percent, TheCallerChoosesWhatStays) {
  const auto only_commas = [](unsigned char c) { return c != ','; };
  EXPECT_EQ(Encode("a,b c", only_commas), "a%2Cb c");
  EXPECT_EQ(Encode("did:plc:x", [](unsigned char c) { return Unreserved(c) || c == ':'; }),
            "did:plc:x");
}

}  // namespace
}  // namespace iss::percent
