#include "services/ingestion/bounded_queue.h"

#include <atomic>
#include <thread>

#include "gtest/gtest.h"
#include "tests/support/wait.h"

namespace iss::ingest {
namespace {

using iss::testing::WaitFor;

Envelope Msg(int i) {
  Envelope e;
  e.key = "K" + std::to_string(i % 7);
  e.value = std::to_string(i);
  return e;
}

TEST(BoundedQueue, TryPushRefusesWhenFullAndKeepsWhatItHas) {
  BoundedQueue q(3);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(q.TryPush(Msg(i)).ok());
  absl::Status s = q.TryPush(Msg(3));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(q.depth(), 3u);
  std::vector<Envelope> out;
  ASSERT_TRUE(q.PopBatch(&out, 10, absl::ZeroDuration()));
  ASSERT_EQ(out.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(out[i].value, std::to_string(i));
  EXPECT_TRUE(q.TryPush(Msg(4)).ok());  // room again
}

TEST(BoundedQueue, PushBlocksWhileFullAndResumesWhenDrained) {
  BoundedQueue q(2);
  ASSERT_TRUE(q.Push(Msg(0)).ok());
  ASSERT_TRUE(q.Push(Msg(1)).ok());
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    EXPECT_TRUE(q.Push(Msg(2)).ok());
    pushed = true;
  });
  ASSERT_TRUE(WaitFor([&] { return q.blocked_pushes() == 1; }));
  EXPECT_FALSE(pushed.load());  // paused, not dropped
  EXPECT_EQ(q.depth(), 2u);
  std::vector<Envelope> out;
  ASSERT_TRUE(q.PopBatch(&out, 1, absl::ZeroDuration()));
  ASSERT_TRUE(WaitFor([&] { return pushed.load(); }));
  producer.join();
  ASSERT_TRUE(q.PopBatch(&out, 10, absl::ZeroDuration()));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].value, "2");
}

TEST(BoundedQueue, BackpressureLosesNothingAndKeepsOrder) {
  constexpr int kCount = 20000;
  BoundedQueue q(16);
  std::thread producer([&] {
    for (int i = 0; i < kCount; ++i) ASSERT_TRUE(q.Push(Msg(i)).ok());
    q.Close();
  });
  std::vector<Envelope> got;
  std::vector<Envelope> batch;
  while (q.PopBatch(&batch, 5, absl::Milliseconds(100))) {
    for (auto& e : batch) got.push_back(std::move(e));
    batch.clear();
  }
  producer.join();
  ASSERT_EQ(got.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(got[i].value, std::to_string(i));
  EXPECT_GT(q.blocked_pushes(), 0);  // the bound was really hit
}

TEST(BoundedQueue, CloseWakesBlockedPushersAndDrainsTheRest) {
  BoundedQueue q(1);
  ASSERT_TRUE(q.Push(Msg(0)).ok());
  absl::Status blocked_result;
  std::thread producer([&] { blocked_result = q.Push(Msg(1)); });
  ASSERT_TRUE(WaitFor([&] { return q.blocked_pushes() == 1; }));
  q.Close();
  producer.join();
  EXPECT_EQ(blocked_result.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(q.TryPush(Msg(2)).code(), absl::StatusCode::kCancelled);
  std::vector<Envelope> out;
  EXPECT_TRUE(q.PopBatch(&out, 10, absl::ZeroDuration()));
  EXPECT_EQ(out.size(), 1u);
  EXPECT_FALSE(q.PopBatch(&out, 10, absl::ZeroDuration()));
}

TEST(BoundedQueue, PopTimesOutWhenEmpty) {
  BoundedQueue q(4);
  std::vector<Envelope> out;
  EXPECT_TRUE(q.PopBatch(&out, 10, absl::Milliseconds(1)));
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace iss::ingest
