#include "services/ingestion/tlcp/reconnect_policy.h"

#include "gtest/gtest.h"

namespace iss::tlcp {
namespace {

ReconnectPolicy::Options Opts() {
  ReconnectPolicy::Options o;
  o.initial = absl::Milliseconds(100);
  o.max = absl::Milliseconds(1000);
  o.circuit_failures = 6;
  o.circuit_open_for = absl::Seconds(60);
  return o;
}

TEST(ReconnectPolicy, ExponentialWithJitterCappedAtMax) {
  ReconnectPolicy p(Opts(), 1);
  const absl::Duration expected_base[] = {absl::Milliseconds(100), absl::Milliseconds(200),
                                          absl::Milliseconds(400), absl::Milliseconds(800),
                                          absl::Milliseconds(1000)};
  for (absl::Duration base : expected_base) {
    ReconnectPolicy::Decision d = p.OnFailure();
    EXPECT_FALSE(d.circuit_open);
    EXPECT_GE(d.wait, base / 2);
    EXPECT_LE(d.wait, base);
  }
}

TEST(ReconnectPolicy, JitterSpreadsWaits) {
  ReconnectPolicy a(Opts(), 1), b(Opts(), 2);
  EXPECT_NE(a.OnFailure().wait, b.OnFailure().wait);
}

TEST(ReconnectPolicy, CircuitOpensAfterConsecutiveFailuresAndProbes) {
  ReconnectPolicy p(Opts(), 3);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(p.OnFailure().circuit_open);
  ReconnectPolicy::Decision open = p.OnFailure();
  EXPECT_TRUE(open.circuit_open);
  EXPECT_EQ(open.wait, absl::Seconds(60));
  // The probe after the open period fails: open again at once.
  EXPECT_TRUE(p.OnFailure().circuit_open);
  // A success closes the circuit and restarts the backoff.
  p.OnSuccess();
  ReconnectPolicy::Decision d = p.OnFailure();
  EXPECT_FALSE(d.circuit_open);
  EXPECT_LE(d.wait, absl::Milliseconds(100));
}

TEST(ReconnectPolicy, SuccessResetsBackoff) {
  ReconnectPolicy p(Opts(), 4);
  p.OnFailure();
  p.OnFailure();
  p.OnFailure();
  p.OnSuccess();
  EXPECT_EQ(p.consecutive_failures(), 0);
  EXPECT_LE(p.OnFailure().wait, absl::Milliseconds(100));
}

}  // namespace
}  // namespace iss::tlcp
