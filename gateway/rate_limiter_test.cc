#include "gateway/rate_limiter.h"

#include "gtest/gtest.h"

namespace iss::gateway {
namespace {

TEST(RateLimiter, BurstThenRefillAtTheRate) {
  RateLimiter limiter(/*rate_per_second=*/2, /*burst=*/3);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_TRUE(limiter.Allow("a", t0));
  EXPECT_TRUE(limiter.Allow("a", t0));
  EXPECT_TRUE(limiter.Allow("a", t0));
  EXPECT_FALSE(limiter.Allow("a", t0));
  // Another client has its own bucket.
  EXPECT_TRUE(limiter.Allow("b", t0));
  // 0.5 s at 2/s = one token.
  EXPECT_TRUE(limiter.Allow("a", t0 + absl::Milliseconds(500)));
  EXPECT_FALSE(limiter.Allow("a", t0 + absl::Milliseconds(500)));
  // Never more than the burst, however long the pause.
  const absl::Time later = t0 + absl::Hours(1);
  int allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += limiter.Allow("a", later);
  EXPECT_EQ(allowed, 3);
}

TEST(RateLimiter, ZeroRateDisables) {
  RateLimiter limiter(0, 0);
  EXPECT_FALSE(limiter.enabled());
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limiter.Allow("a"));
}

TEST(RateLimiter, TableStaysBoundedUnderManyClients) {
  RateLimiter limiter(/*rate_per_second=*/100, /*burst=*/1, /*max_clients=*/10);
  absl::Time t = absl::FromUnixSeconds(1000);
  for (int i = 0; i < 1000; ++i) {
    t += absl::Milliseconds(20);  // earlier buckets are full again: forgettable
    ASSERT_TRUE(limiter.Allow("client" + std::to_string(i), t));
  }
  // A fresh client is still limited correctly after the sweeps.
  EXPECT_TRUE(limiter.Allow("z", t));
  EXPECT_FALSE(limiter.Allow("z", t));
}

}  // namespace
}  // namespace iss::gateway
