#include "services/storage/tail_hub.h"

#include <thread>

#include "gtest/gtest.h"

namespace iss::storage {
namespace {

EventPtr Event(const std::string& item, int n) {
  auto e = std::make_shared<iss::telemetry::v1::TelemetryEvent>();
  e->set_item_id(item);
  e->set_value(std::to_string(n));
  return e;
}

TEST(TailHub, DeliversOnlyChosenItemsInOrder) {
  TailHub hub(100);
  auto urine = hub.Subscribe({"NODE3000005"});
  auto all = hub.Subscribe({});
  hub.Publish({Event("NODE3000005", 1), Event("TIME_000001", 2), Event("NODE3000005", 3)});
  std::vector<EventPtr> got;
  EXPECT_EQ(urine->Next(&got, absl::Seconds(1)), TailHub::Subscription::State::kOpen);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]->value(), "1");
  EXPECT_EQ(got[1]->value(), "3");
  got.clear();
  all->Next(&got, absl::Seconds(1));
  EXPECT_EQ(got.size(), 3u);
}

TEST(TailHub, NextTimesOutEmptyWhenNothingArrives) {
  TailHub hub(10);
  auto sub = hub.Subscribe({});
  std::vector<EventPtr> got;
  EXPECT_EQ(sub->Next(&got, absl::Milliseconds(20)), TailHub::Subscription::State::kOpen);
  EXPECT_TRUE(got.empty());
}

TEST(TailHub, SlowSubscriberIsDroppedWithoutBlockingPublisherOrOthers) {
  TailHub hub(5);
  auto slow = hub.Subscribe({});
  auto fast = hub.Subscribe({});
  std::vector<EventPtr> got;
  for (int i = 0; i < 4; ++i) {
    hub.Publish({Event("A", i), Event("A", i + 100)});
    got.clear();
    fast->Next(&got, absl::Seconds(1));  // the fast one keeps up
    EXPECT_EQ(got.size(), 2u);
  }
  got.clear();
  EXPECT_EQ(slow->Next(&got, absl::Seconds(1)), TailHub::Subscription::State::kDropped);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(hub.dropped(), 1u);
  hub.Publish({Event("A", 9)});
  got.clear();
  EXPECT_EQ(fast->Next(&got, absl::Seconds(1)), TailHub::Subscription::State::kOpen);
  EXPECT_EQ(got.size(), 1u);
}

TEST(TailHub, CloseEndsWaitingSubscribersAndLaterOnes) {
  TailHub hub(10);
  auto sub = hub.Subscribe({});
  std::thread closer([&] { hub.Close(); });
  std::vector<EventPtr> got;
  EXPECT_EQ(sub->Next(&got, absl::Seconds(10)), TailHub::Subscription::State::kClosed);
  closer.join();
  auto late = hub.Subscribe({});
  EXPECT_EQ(late->Next(&got, absl::Seconds(10)), TailHub::Subscription::State::kClosed);
}

TEST(TailHub, UnsubscribesOnDestruction) {
  TailHub hub(10);
  {
    auto sub = hub.Subscribe({});
    EXPECT_EQ(hub.subscribers(), 1u);
  }
  EXPECT_EQ(hub.subscribers(), 0u);
  hub.Publish({Event("A", 1)});  // nobody to crash into
}

}  // namespace
}  // namespace iss::storage
