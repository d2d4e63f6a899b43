#include "services/ingestion/signal_tracker.h"

#include "gtest/gtest.h"

namespace iss::ingest {
namespace {

using iss::telemetry::v1::SIGNAL_STATE_AOS;
using iss::telemetry::v1::SIGNAL_STATE_LOS;
using iss::telemetry::v1::SIGNAL_STATE_STALE;
using iss::telemetry::v1::SIGNAL_STATE_UNSPECIFIED;

const absl::Time t0 = absl::FromUnixSeconds(1782345600);

TEST(SignalTracker, UnknownUntilTheTimeItemIsSeen) {
  SignalTracker s;
  EXPECT_EQ(s.State(t0).state, SIGNAL_STATE_UNSPECIFIED);
}

TEST(SignalTracker, Class24IsAos) {
  SignalTracker s;
  s.Observe("24", t0, t0 + absl::Seconds(1));
  auto snap = s.State(t0 + absl::Seconds(1));
  EXPECT_EQ(snap.state, SIGNAL_STATE_AOS);
  EXPECT_EQ(snap.since, t0 + absl::Seconds(1));
}

TEST(SignalTracker, AnyOtherClassOrNullIsLos) {
  SignalTracker s;
  s.Observe("0", t0, t0);
  EXPECT_EQ(s.State(t0).state, SIGNAL_STATE_LOS);
  s.Observe(std::nullopt, t0, t0);
  EXPECT_EQ(s.State(t0).state, SIGNAL_STATE_LOS);
  s.Observe("24 ", t0, t0);  // no trimming: the feed sends exactly "24"
  EXPECT_EQ(s.State(t0).state, SIGNAL_STATE_LOS);
}

TEST(SignalTracker, StaleWhenTheTimeStampLagsMoreThanFiveAndAHalfSeconds) {
  SignalTracker s;
  s.Observe("24", t0, t0);
  EXPECT_EQ(s.State(t0 + absl::Milliseconds(5500)).state, SIGNAL_STATE_AOS);
  auto stale = s.State(t0 + absl::Milliseconds(5501));
  EXPECT_EQ(stale.state, SIGNAL_STATE_STALE);
  EXPECT_EQ(stale.since, t0 + absl::Milliseconds(5501));
  // Also when an update arrives whose TimeStamp is already old.
  s.Observe("24", t0, t0 + absl::Seconds(10));
  EXPECT_EQ(s.State(t0 + absl::Seconds(10)).state, SIGNAL_STATE_STALE);
  // A fresh TimeStamp brings it back.
  s.Observe("24", t0 + absl::Seconds(11), t0 + absl::Seconds(11));
  EXPECT_EQ(s.State(t0 + absl::Seconds(11)).state, SIGNAL_STATE_AOS);
}

TEST(SignalTracker, PeekDoesNotReevaluate) {
  SignalTracker s;
  s.Observe("24", t0, t0);
  s.State(t0);
  EXPECT_EQ(s.Peek().state, SIGNAL_STATE_AOS);  // even though wall time is far later
  EXPECT_EQ(s.Peek().since, t0);
}

TEST(SignalTracker, SinceOnlyMovesOnChange) {
  SignalTracker s;
  s.Observe("24", t0, t0);
  s.Observe("24", t0 + absl::Seconds(1), t0 + absl::Seconds(1));
  EXPECT_EQ(s.State(t0 + absl::Seconds(1)).since, t0);
}

}  // namespace
}  // namespace iss::ingest
