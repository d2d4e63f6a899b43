#include "services/ingestion/bounded_queue.h"

#include <atomic>
#include <string>
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

// The recycling paths: Push(Envelope*) swaps, TakeBatch hands spent
// envelopes back. Order and contents must be exactly those pushed, across
// ring growth and wrap-around, whatever stale data the recycled ones carry.
TEST(BoundedQueue, RecyclingKeepsOrderAcrossGrowthAndWrapAround) {
  BoundedQueue q(300);  // grows 64 -> 128 -> 256 -> 300
  std::vector<Envelope> batch;
  Envelope scratch;
  int pushed = 0, taken = 0;
  for (int round = 0; round < 40; ++round) {
    const int n = (round * 37) % 290 + 1;
    for (int i = 0; i < n; ++i) {
      // Overwrite every field, as the pipeline does with a recycled envelope.
      scratch.kind = pushed % 5 == 0 ? Envelope::Kind::kDeadLetter : Envelope::Kind::kEvent;
      scratch.key = "K" + std::to_string(pushed % 7);
      scratch.value.assign(static_cast<size_t>(pushed % 50), 'v');
      scratch.value += std::to_string(pushed);
      scratch.headers.clear();
      if (pushed % 5 == 0) scratch.headers.emplace_back("n", std::to_string(pushed));
      ASSERT_TRUE(q.Push(&scratch).ok());
      EXPECT_TRUE(scratch.headers.empty()) << "recycled envelopes come back without headers";
      ++pushed;
    }
    // Take part of it (in uneven batches), leaving the rest to wrap around.
    while (q.depth() > static_cast<size_t>(round % 3 == 0 ? 0 : 10)) {
      ASSERT_TRUE(q.TakeBatch(&batch, 1 + taken % 70, absl::ZeroDuration()));
      ASSERT_FALSE(batch.empty());
      for (const Envelope& e : batch) {
        const std::string want =
            std::string(static_cast<size_t>(taken % 50), 'v') + std::to_string(taken);
        ASSERT_EQ(e.value, want);
        ASSERT_EQ(e.key, "K" + std::to_string(taken % 7));
        ASSERT_EQ(e.kind == Envelope::Kind::kDeadLetter, taken % 5 == 0);
        ASSERT_EQ(e.headers.size(), taken % 5 == 0 ? 1u : 0u);
        ++taken;
      }
    }
  }
  q.Close();
  while (q.TakeBatch(&batch, 64, absl::ZeroDuration())) {
    for (const Envelope& e : batch) {
      ASSERT_EQ(e.value, std::string(static_cast<size_t>(taken % 50), 'v') + std::to_string(taken));
      ++taken;
    }
  }
  EXPECT_EQ(taken, pushed);
}

TEST(BoundedQueue, PushByPointerIsUntouchedWhenClosed) {
  BoundedQueue q(2);
  q.Close();
  Envelope e = Msg(1);
  EXPECT_EQ(q.Push(&e).code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(e.value, "1");
  std::vector<Envelope> batch(3);
  EXPECT_FALSE(q.TakeBatch(&batch, 10, absl::ZeroDuration()));
  EXPECT_TRUE(batch.empty());
}

TEST(BoundedQueue, PopTimesOutWhenEmpty) {
  BoundedQueue q(4);
  std::vector<Envelope> out;
  EXPECT_TRUE(q.PopBatch(&out, 10, absl::Milliseconds(1)));
  EXPECT_TRUE(out.empty());
}

// The publisher asks for a fill target so it is not woken once per message.
TEST(BoundedQueue, TakeBatchWaitsForTheFillTargetThenTakesEverything) {
  BoundedQueue q(100);
  ASSERT_TRUE(q.Push(Msg(0)).ok());
  std::vector<Envelope> batch;
  std::atomic<bool> returned{false};
  std::thread consumer([&] {
    EXPECT_TRUE(q.TakeBatch(&batch, 100, absl::Seconds(60), 5, absl::Seconds(60)));
    returned = true;
  });
  for (int i = 1; i < 4; ++i) ASSERT_TRUE(q.Push(Msg(i)).ok());
  EXPECT_FALSE(WaitFor([&] { return returned.load(); }, absl::Milliseconds(200)))
      << "returned below the fill target";
  ASSERT_TRUE(q.Push(Msg(4)).ok());
  ASSERT_TRUE(WaitFor([&] { return returned.load(); }, absl::Seconds(10)));
  consumer.join();
  ASSERT_EQ(batch.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(batch[i].value, std::to_string(i));
}

TEST(BoundedQueue, FillWaitEndsAtItsDeadlineWithWhatIsThere) {
  BoundedQueue q(100);
  ASSERT_TRUE(q.Push(Msg(0)).ok());
  ASSERT_TRUE(q.Push(Msg(1)).ok());
  std::vector<Envelope> batch;
  ASSERT_TRUE(q.TakeBatch(&batch, 100, absl::Seconds(1), 50, absl::Milliseconds(5)));
  EXPECT_EQ(batch.size(), 2u);
}

TEST(BoundedQueue, FillTargetIsCappedAtCapacityAndCloseEndsTheWait) {
  // A target above the capacity could never be met: a full queue is enough.
  BoundedQueue full(3);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(full.Push(Msg(i)).ok());
  std::atomic<bool> returned{false};
  std::vector<Envelope> batch;
  std::thread consumer([&] {
    EXPECT_TRUE(full.TakeBatch(&batch, 100, absl::Seconds(60), 1000, absl::Seconds(60)));
    returned = true;
  });
  ASSERT_TRUE(WaitFor([&] { return returned.load(); }, absl::Seconds(10)));
  consumer.join();
  EXPECT_EQ(batch.size(), 3u);

  // Closing hands over what is there at once.
  BoundedQueue q(100);
  ASSERT_TRUE(q.Push(Msg(7)).ok());
  returned = false;
  std::vector<Envelope> rest;
  std::thread waiter([&] {
    EXPECT_TRUE(q.TakeBatch(&rest, 100, absl::Seconds(60), 50, absl::Seconds(60)));
    returned = true;
  });
  EXPECT_FALSE(WaitFor([&] { return returned.load(); }, absl::Milliseconds(100)));
  q.Close();
  ASSERT_TRUE(WaitFor([&] { return returned.load(); }, absl::Seconds(10)));
  waiter.join();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].value, "7");
  EXPECT_FALSE(q.TakeBatch(&rest, 100, absl::ZeroDuration()));  // closed and empty
}

TEST(BoundedQueue, TakeBatchTimesOutEmptyButOpen) {
  BoundedQueue q(4);
  std::vector<Envelope> batch(2);  // spent envelopes from an earlier batch
  EXPECT_TRUE(q.TakeBatch(&batch, 10, absl::Milliseconds(1)));
  EXPECT_TRUE(batch.empty());
}

}  // namespace
}  // namespace iss::ingest
