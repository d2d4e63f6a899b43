// The recorder against a real directory: what it writes is what the replay
// source reads back, rotation by size and time, gzip, the bounds.
#include "services/ingestion/recorder.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "gtest/gtest.h"
#include "services/ingestion/replay.h"
#include "tests/support/wait.h"

namespace iss::ingest {
namespace {

using iss::testing::WaitFor;

// Every directory a test used, removed when the tests are done.
class TempDirs : public ::testing::Environment {
 public:
  static std::string Fresh() {
    static int n = 0;
    const std::string dir = absl::StrCat(::testing::TempDir(), "/recorder_", ::getpid(), "_", n++);
    Remove(dir);
    dirs().push_back(dir);
    return dir;
  }
  void TearDown() override {
    for (const std::string& d : dirs()) Remove(d);
  }

 private:
  static void Remove(const std::string& dir) {
    (void)std::system(absl::StrCat("rm -rf '", dir, "'").c_str());
  }
  static std::vector<std::string>& dirs() {
    static auto* v = new std::vector<std::string>();
    return *v;
  }
};
const auto* const kTempDirs = ::testing::AddGlobalTestEnvironment(new TempDirs());

std::string FreshDir() { return TempDirs::Fresh(); }

std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') out.push_back(e->d_name);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

int64_t SizeOf(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

double Metric(const std::string& series) {
  const std::string text = iss::metrics::Serialize();
  const size_t at = text.find("\n" + series + " ");
  return at == std::string::npos ? 0 : std::stod(text.substr(at + series.size() + 2));
}

RawUpdate Update(int i) {
  RawUpdate u;
  u.item_id = i % 3 == 0 ? "TIME_000001" : "NODE3000005";
  if (i % 3 != 0) u.value = absl::StrCat(40 + i % 7);
  u.timestamp = absl::StrCat("4224.0145838", 10 + i % 89);
  u.status_class = "24";
  if (i % 5 == 0) u.status_color = "green";
  if (i % 7 == 0) u.calibrated_data = "a \"quoted\" | value";
  u.received_at = absl::FromUnixMicros(1782345652502123 + int64_t{250000} * i);
  u.snapshot = i < 2;
  u.raw = "U,1,1,never recorded";
  return u;
}

class Collecting : public UpdateSink {
 public:
  bool Deliver(RawUpdate u) override {
    absl::MutexLock lock(&mu_);
    got_.push_back(std::move(u));
    return true;
  }
  std::vector<RawUpdate> got() {
    absl::MutexLock lock(&mu_);
    return got_;
  }

 private:
  absl::Mutex mu_;
  std::vector<RawUpdate> got_;
};

// Replays `path` (file or directory) as fast as possible.
std::vector<RawUpdate> Replay(const std::string& path, int* bad = nullptr) {
  Collecting sink;
  int bad_lines = 0;
  ReplaySource src({.path = path, .speed = 0, .progress = false}, &sink,
                   [&](std::string_view, std::string_view) {
                     ++bad_lines;
                     return true;
                   });
  EXPECT_TRUE(src.Start().ok());
  src.WaitDone();
  if (bad) *bad = bad_lines;
  return sink.got();
}

void ExpectSame(const RawUpdate& a, const RawUpdate& b, int i) {
  EXPECT_EQ(a.item_id, b.item_id) << i;
  EXPECT_EQ(a.value, b.value) << i;
  EXPECT_EQ(a.timestamp, b.timestamp) << i;
  EXPECT_EQ(a.status_class, b.status_class) << i;
  EXPECT_EQ(a.status_indicator, b.status_indicator) << i;
  EXPECT_EQ(a.status_color, b.status_color) << i;
  EXPECT_EQ(a.calibrated_data, b.calibrated_data) << i;
  EXPECT_EQ(a.received_at, b.received_at) << i;
  EXPECT_EQ(a.snapshot, b.snapshot) << i;
}

TEST(Recorder, WritesEveryUpdateAsReceivedAndTheReplayReadsItBack) {
  for (bool gzip : {false, true}) {
    const std::string dir = FreshDir() + "/nested/rec";  // created with its parents
    auto rec = Recorder::Start({.dir = dir, .gzip = gzip});
    ASSERT_TRUE(rec.ok()) << rec.status();
    Collecting next;
    RecordingSink sink(rec->get(), &next);
    for (int i = 0; i < 500; ++i) ASSERT_TRUE(sink.Deliver(Update(i)));
    EXPECT_EQ(next.got().size(), 500u) << "the pipeline gets every update too";
    (*rec)->Stop();
    EXPECT_EQ((*rec)->stats().written, 500u);
    EXPECT_EQ((*rec)->stats().dropped, 0u);
    const auto files = Files(dir);
    ASSERT_EQ(files.size(), 1u);
    EXPECT_TRUE(absl::StartsWith(files[0], "rec-")) << files[0];
    EXPECT_TRUE(absl::EndsWith(files[0], gzip ? ".jsonl.gz" : ".jsonl")) << files[0];
    if (gzip) {
      std::ifstream in(dir + "/" + files[0], std::ios::binary);
      char magic[2];
      in.read(magic, 2);
      EXPECT_EQ(static_cast<unsigned char>(magic[0]), 0x1f);
      EXPECT_EQ(static_cast<unsigned char>(magic[1]), 0x8b);
    }
    int bad = 0;
    const auto back = Replay(dir + "/" + files[0], &bad);
    EXPECT_EQ(bad, 0);
    ASSERT_EQ(back.size(), 500u);
    for (int i = 0; i < 500; ++i) ExpectSame(back[i], Update(i), i);
    EXPECT_EQ(back[0].source, "replay");
  }
}

TEST(Recorder, RotatesBySizeAndADirectoryReplaysInOrder) {
  const std::string dir = FreshDir();
  auto rec = Recorder::Start({.dir = dir, .max_file_bytes = 8192});
  ASSERT_TRUE(rec.ok()) << rec.status();
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE((*rec)->Offer(Update(i)));
  (*rec)->Stop();
  const auto files = Files(dir);
  ASSERT_GE(files.size(), 10u);
  EXPECT_EQ((*rec)->stats().files, files.size());
  for (const auto& f : files) {
    // Lines fill a file up to the bound; the header and one line may pass it.
    EXPECT_LT(SizeOf(dir + "/" + f), 8192 + 1024) << f;
  }
  const auto back = Replay(dir);
  ASSERT_EQ(back.size(), 1000u);
  for (int i = 0; i < 1000; ++i) ExpectSame(back[i], Update(i), i);
}

TEST(Recorder, RotatesByTime) {
  const std::string dir = FreshDir();
  auto rec = Recorder::Start({.dir = dir,
                              .max_file_age = absl::Milliseconds(50),
                              .write_interval = absl::Milliseconds(10)});
  ASSERT_TRUE(rec.ok()) << rec.status();
  int i = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        (*rec)->Offer(Update(i++));
        return (*rec)->stats().files >= 3;
      },
      absl::Seconds(20), absl::Milliseconds(5)));
  (*rec)->Stop();
  EXPECT_GE(Files(dir).size(), 3u);
  EXPECT_EQ(Replay(dir).size(), static_cast<size_t>(i));
}

// The live path never waits for the writer: past the queue's bound an update
// is not recorded, and that is counted (the pipeline still gets it).
TEST(Recorder, AFullQueueDropsAndCountsInsteadOfWaiting) {
  const std::string dir = FreshDir();
  const double before = Metric("iss_ingest_record_dropped_total");
  auto rec = Recorder::Start({.dir = dir, .queue_capacity = 10, .write_interval = absl::Hours(1)});
  ASSERT_TRUE(rec.ok()) << rec.status();
  Collecting next;
  RecordingSink sink(rec->get(), &next);
  // The writer wakes at half the bound: offer faster than it can drain by
  // filling in one go under its nose is racy, so count what was refused.
  int refused = 0;
  for (int i = 0; i < 25; ++i) {
    refused += !(*rec)->Offer(Update(i));
    sink.Deliver(Update(100 + i));
  }
  EXPECT_EQ(next.got().size(), 25u);
  (*rec)->Stop();
  const auto st = (*rec)->stats();
  EXPECT_EQ(st.written + st.dropped, 50u);
  EXPECT_GE(refused, 1);
  EXPECT_GE(st.dropped, static_cast<uint64_t>(refused));
  EXPECT_EQ(Metric("iss_ingest_record_dropped_total"), before + static_cast<double>(st.dropped));
  EXPECT_EQ(Replay(dir).size(), st.written);
  // Stopped: nothing more is taken.
  EXPECT_FALSE((*rec)->Offer(Update(0)));
}

TEST(Recorder, KeepsTheDirectoryUnderItsTotalBound) {
  const std::string dir = FreshDir();
  // Someone else's file in the same directory is never touched.
  ::mkdir(dir.c_str(), 0755);
  std::ofstream(dir + "/notes.txt") << std::string(50000, 'x');
  auto rec = Recorder::Start({.dir = dir, .max_file_bytes = 4096, .max_total_bytes = 20000});
  ASSERT_TRUE(rec.ok()) << rec.status();
  const double deleted_before = Metric("iss_ingest_record_files_deleted_total");
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE((*rec)->Offer(Update(i)));
  (*rec)->Stop();
  int64_t total = 0;
  std::vector<std::string> recordings;
  for (const auto& f : Files(dir)) {
    if (f == "notes.txt") continue;
    recordings.push_back(f);
    total += SizeOf(dir + "/" + f);
  }
  EXPECT_LE(total, 20000);
  EXPECT_GT((*rec)->stats().files, recordings.size()) << "old files were deleted";
  EXPECT_GT(Metric("iss_ingest_record_files_deleted_total"), deleted_before);
  EXPECT_EQ(SizeOf(dir + "/notes.txt"), 50000);
  // What is left is the newest part of the session, still in order.
  const auto back = Replay(dir);
  ASSERT_FALSE(back.empty());
  EXPECT_EQ(back.back().received_at, Update(1999).received_at);
}

TEST(Recorder, RefusesADirectoryItCannotWriteNamingIt) {
  const std::string file = FreshDir();
  std::ofstream(file) << "not a directory";
  auto rec = Recorder::Start({.dir = file});
  ASSERT_FALSE(rec.ok());
  EXPECT_EQ(rec.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(rec.status().message(), file)) << rec.status();
  EXPECT_EQ(Recorder::Start({.dir = ""}).status().code(), absl::StatusCode::kInvalidArgument);
}

// A recorder killed mid-file leaves a gzip stream without its end: the replay
// reads what is there.
TEST(Recorder, AGzipFileCutShortIsReplayedUpToTheCut) {
  const std::string dir = FreshDir();
  auto rec = Recorder::Start({.dir = dir, .gzip = true});
  ASSERT_TRUE(rec.ok());
  for (int i = 0; i < 3000; ++i) ASSERT_TRUE((*rec)->Offer(Update(i)));
  (*rec)->Stop();
  const auto files = Files(dir);
  ASSERT_EQ(files.size(), 1u);
  const std::string path = dir + "/" + files[0];
  const int64_t size = SizeOf(path);
  ASSERT_EQ(::truncate(path.c_str(), size * 2 / 3), 0);
  int bad = 0;
  const auto back = Replay(path, &bad);
  EXPECT_GT(back.size(), 500u);
  EXPECT_LT(back.size(), 3000u);
  EXPECT_LE(bad, 1);  // at most the line the cut went through
  for (size_t i = 0; i + 1 < back.size(); ++i) ExpectSame(back[i], Update(static_cast<int>(i)), i);
}

TEST(ReplaySource, ADirectoryWithoutRecordingsIsNotFound) {
  const std::string dir = FreshDir();
  ::mkdir(dir.c_str(), 0755);
  std::ofstream(dir + "/notes.txt") << "x";
  Collecting sink;
  ReplaySource src({.path = dir}, &sink, [](std::string_view, std::string_view) { return true; });
  const absl::Status s = src.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(s.message(), dir)) << s;
}

}  // namespace
}  // namespace iss::ingest
