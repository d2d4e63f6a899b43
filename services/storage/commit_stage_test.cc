// CommitStage: one batch in flight, written on the stage's own thread, handed
// back in order with its status; a failed batch comes back untouched.
#include "services/storage/commit_stage.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "tests/support/wait.h"

namespace iss::storage {
namespace {

SinkBatch Batch(int first, int n, int64_t next_offset) {
  SinkBatch b;
  for (int i = first; i < first + n; ++i) {
    iss::telemetry::v1::TelemetryEvent e;
    e.set_item_id(absl::StrCat("ITEM_", i));
    b.events.push_back(e);
    b.partitions.push_back(i % 3);
  }
  b.offsets[{"t", 0}] = next_offset;
  return b;
}

TEST(CommitStageTest, WritesOnItsOwnThreadAndHandsTheBatchBackInOrder) {
  std::vector<int64_t> written;
  std::thread::id writer_thread;
  CommitStage stage([&](SinkBatch& b) {
    writer_thread = std::this_thread::get_id();
    written.push_back(b.offsets.begin()->second);
    return absl::OkStatus();
  });
  EXPECT_FALSE(stage.Busy());
  EXPECT_FALSE(stage.Take(/*wait=*/true).has_value());  // nothing submitted
  for (int64_t i = 1; i <= 5; ++i) {
    stage.Submit(Batch(0, 2, i));
    EXPECT_TRUE(stage.Busy());
    auto done = stage.Take(/*wait=*/true);
    ASSERT_TRUE(done.has_value());
    EXPECT_TRUE(done->status.ok());
    EXPECT_FALSE(stage.Busy());
  }
  EXPECT_EQ(written, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_NE(writer_thread, std::this_thread::get_id());
}

TEST(CommitStageTest, TakeWithoutWaitingReturnsNothingWhileTheWriteRuns) {
  absl::Notification entered, release;
  CommitStage stage([&](SinkBatch&) {
    entered.Notify();
    release.WaitForNotification();
    return absl::OkStatus();
  });
  stage.Submit(Batch(0, 3, 3));
  entered.WaitForNotification();
  EXPECT_FALSE(stage.Take(/*wait=*/false).has_value());
  EXPECT_TRUE(stage.Busy());
  release.Notify();
  ASSERT_TRUE(iss::testing::WaitFor([&] { return stage.Take(/*wait=*/false).has_value(); }));
  EXPECT_FALSE(stage.Busy());
}

TEST(CommitStageTest, AFailedWriteHandsTheBatchBackUntouched) {
  CommitStage stage([](SinkBatch&) { return absl::UnavailableError("database down"); });
  stage.Submit(Batch(10, 4, 14));
  auto done = stage.Take(/*wait=*/true);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->status.code(), absl::StatusCode::kUnavailable);
  ASSERT_EQ(done->batch.events.size(), 4u);
  EXPECT_EQ(done->batch.events[0].item_id(), "ITEM_10");
  EXPECT_EQ(done->batch.events[3].item_id(), "ITEM_13");
  EXPECT_EQ(done->batch.partitions, (std::vector<int32_t>{1, 2, 0, 1}));
  EXPECT_EQ(done->batch.offsets.at({"t", 0}), 14);
}

TEST(CommitStageTest, DestructionFinishesTheBatchInFlight) {
  std::atomic<int> writes{0};
  absl::Notification entered;
  {
    CommitStage stage([&](SinkBatch&) {
      entered.Notify();
      ++writes;
      return absl::OkStatus();
    });
    stage.Submit(Batch(0, 1, 1));
    entered.WaitForNotification();
  }
  EXPECT_EQ(writes.load(), 1);
}

}  // namespace
}  // namespace iss::storage
