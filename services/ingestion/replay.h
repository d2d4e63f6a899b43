// Owns: the replay source: recorded updates (services/ingestion/replay_format.h,
// one JSON object per line), fed to the pipeline at the recorded pace
// (scaled) or as fast as possible, so the platform runs without the internet
// and a recorded session runs again exactly as it was received.
//
// `path` is one file or a directory: a directory replays every *.jsonl and
// *.jsonl.gz file in it in name order (the recorder's rotated files sort by
// their start time), as one session. A gzip file is read as such (zlib; a
// plain file reads through the same call); a gzip file cut short (a recorder
// that was killed) is replayed up to where it ends, with a warning.
// A line that is not a replay line is handed to `on_bad_line` (the pipeline
// dead-letters it as "undecodable") and the replay goes on.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "services/ingestion/replay_format.h"
#include "services/ingestion/update.h"

namespace iss::ingest {

struct ReplayOptions {
  std::string path;  // a file, or a directory of them
  // 0 = as fast as possible; 1 = the recorded pace; N = N times faster.
  double speed = 1.0;
  // Draw a progress bar on stderr (only if stderr is a terminal).
  bool progress = true;
  std::string source = "replay";
};

class ReplaySource {
 public:
  // Called for each undecodable line with (detail, raw line); false = stop.
  using BadLineFn = std::function<bool(std::string_view detail, std::string_view raw)>;
  struct Progress {
    int64_t lines = 0;  // lines delivered (good and bad)
    int64_t bad_lines = 0;
    int64_t bytes = 0;        // of the files as stored (compressed for .gz)
    int64_t total_bytes = 0;  // their sizes
    bool done = false;        // reached the end of the file (or stopped)
  };

  ReplaySource(ReplayOptions options, UpdateSink* sink, BadLineFn on_bad_line);
  ~ReplaySource();  // Stop()

  // Finds the files (NOT_FOUND / PERMISSION_DENIED; NOT_FOUND for a
  // directory without replay files) and starts the thread.
  absl::Status Start();
  // Interrupts pacing waits; the thread ends after its current delivery.
  void Stop();
  Progress progress() const;
  // Blocks until the file is fully replayed or the source stopped.
  void WaitDone() { done_.WaitForNotification(); }

 private:
  void Run();
  // One file; false when the replay should stop (stopped, or the sink said so).
  bool ReplayFile(const std::string& path);
  void DrawProgress(bool final);

  const ReplayOptions options_;
  UpdateSink* const sink_;
  const BadLineFn on_bad_line_;
  std::vector<std::string> files_;  // in replay order
  std::thread thread_;
  absl::Notification stop_;
  absl::Notification done_;
  std::atomic<int64_t> lines_{0}, bad_lines_{0}, bytes_{0}, total_bytes_{0};
  bool draw_progress_ = false;
  absl::Time last_draw_ = absl::InfinitePast();
  absl::Time started_;
  // Pacing (replay thread only): the first update's recorded time and when
  // it was delivered; carried across files.
  bool have_base_ = false;
  absl::Time base_recorded_, base_wall_;
  int64_t done_bytes_ = 0;  // sizes of the files already replayed
};

}  // namespace iss::ingest
