#include "gateway/call_tracker.h"

#include <gtest/gtest.h>

namespace iss::gateway {
namespace {

TEST(CallTracker, RefusesNewCallsOnceClosedSoNoUpstreamCallOutlivesShutdown) {
  CallTracker calls;
  grpc::ClientContext before, during;
  ASSERT_TRUE(calls.Track(&before, /*stream=*/true));
  EXPECT_EQ(calls.InFlight(), 1u);
  calls.CancelAllAndClose();
  // A handler still running when the server shuts down must not start its call.
  EXPECT_FALSE(calls.Track(&during, /*stream=*/false));
  EXPECT_EQ(calls.InFlight(), 1u);
  calls.Untrack(&before);
  calls.WaitUntilNone();  // returns: nothing tracked any more
  EXPECT_EQ(calls.InFlight(), 0u);
}

}  // namespace
}  // namespace iss::gateway
