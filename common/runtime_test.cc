// MemoryReleaser against glibc's real allocator: memory freed between live
// allocations stays in the process until malloc_trim gives it back.
#include "common/runtime.h"

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace iss {
namespace {

TEST(MemoryReleaser, GivesBackMemoryFreedBetweenLiveAllocations) {
  constexpr size_t kChunk = 1024, kChunks = 96 * 1024;            // 96 MiB
  MemoryReleaser releaser({absl::Seconds(5), size_t{32} << 20});  // no thread: checked here
  MemoryReleaser never({absl::Seconds(5), size_t{1} << 40});
  std::vector<char*> kept;
  // On a thread of its own, as a gRPC handler thread: its own malloc arena.
  std::thread([&] {
    std::vector<char*> all(kChunks);
    for (auto& p : all) {
      p = static_cast<char*>(std::malloc(kChunk));
      std::fill(p, p + kChunk, 'x');  // resident
    }
    // Keep one chunk in 64: what is freed cannot shrink the heap from the top.
    for (size_t i = 0; i < kChunks; ++i) {
      if (i % 64 == 63) {
        kept.push_back(all[i]);
      } else {
        std::free(all[i]);
      }
    }
  }).join();
  ASSERT_GE(MemoryReleaser::FreeHeapBytes(), size_t{64} << 20);
  const size_t before = MemoryReleaser::ResidentBytes();
  EXPECT_FALSE(never.ReleaseIfWorthIt());  // not worth it: nothing done
  EXPECT_GT(MemoryReleaser::ResidentBytes() + (size_t{16} << 20), before);
  EXPECT_TRUE(releaser.ReleaseIfWorthIt());
  const size_t after = MemoryReleaser::ResidentBytes();
  EXPECT_LT(after + (size_t{48} << 20), before) << "RSS " << before << " -> " << after;
  // Still as much free, but no longer resident: nothing more to return.
  EXPECT_GE(MemoryReleaser::FreeHeapBytes(), size_t{64} << 20);
  EXPECT_FALSE(releaser.ReleaseIfWorthIt());
  for (char* p : kept) std::free(p);
}

TEST(MemoryReleaser, StopsItsThreadWhenDestroyed) {
  auto r = MemoryReleaser::Start({absl::Milliseconds(1), size_t{1} << 40});
  r.reset();  // wakes and joins the thread: a hang here fails the test by timeout
  SUCCEED();
}

}  // namespace
}  // namespace iss
