#include "common/health.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iss {
namespace {

TEST(Health, ServingOnlyWhenEveryRequiredDependencyIsUp) {
  Health h;
  EXPECT_TRUE(h.Serving());  // nothing declared
  h.Declare("broker");
  h.Declare("feed", /*required=*/false);
  EXPECT_FALSE(h.Serving());
  h.Set("broker", true);
  EXPECT_TRUE(h.Serving());  // optional feed still down
  h.Set("broker", false, "connection refused");
  EXPECT_FALSE(h.Serving());
  EXPECT_THAT(h.ToJson(), ::testing::HasSubstr("connection refused"));
  h.Set("broker", true);
  h.SetShuttingDown();
  EXPECT_FALSE(h.Serving());
}

TEST(Health, ListenersHearChanges) {
  Health h;
  std::vector<bool> seen;
  h.OnChange([&](bool serving) { seen.push_back(serving); });
  h.Declare("db");
  h.Set("db", true);
  h.Set("db", true);  // no change, no call
  h.Set("db", false, "down");
  EXPECT_EQ(seen, (std::vector<bool>{false, true, false}));
}

}  // namespace
}  // namespace iss
