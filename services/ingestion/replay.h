// Owns: the replay source: a recorded file of updates, one JSON object per
// line, fed to the pipeline at the recorded pace (scaled) or as fast as
// possible, so the platform runs without the internet.
//
// Line format (one RawUpdate; absent or null fields are nulls):
//   {"item_id":"NODE3000005","value":"42","timestamp":"4224.014583888915",
//    "status_class":"24","status_indicator":"0","status_color":"green",
//    "calibrated_data":null,"received_at":"2026-06-25T00:00:52.502000Z"}
// Field values must be JSON strings (the feed's text, kept verbatim).
// received_at is RFC 3339; it drives the pacing and the year of TimeStamp.
// Blank lines and lines starting with '#' are skipped. A line that is not such
// an object is handed to `on_bad_line` (the pipeline dead-letters it as
// "undecodable") and the replay goes on.
#pragma once

#include <atomic>
#include <cstdio>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "services/ingestion/update.h"

namespace iss::ingest {

// Parses one line. INVALID_ARGUMENT naming the problem.
absl::StatusOr<RawUpdate> ParseReplayLine(std::string_view line, std::string_view source);
// The inverse (also used to show a RawUpdate as "raw" in a dead letter).
std::string FormatReplayLine(const RawUpdate& update);

struct ReplayOptions {
  std::string path;
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
    int64_t lines = 0;      // lines delivered (good and bad)
    int64_t bad_lines = 0;
    int64_t bytes = 0;
    int64_t total_bytes = 0;
    bool done = false;      // reached the end of the file (or stopped)
  };

  ReplaySource(ReplayOptions options, UpdateSink* sink, BadLineFn on_bad_line);
  ~ReplaySource();  // Stop()

  // Opens the file (NOT_FOUND / PERMISSION_DENIED) and starts the thread.
  absl::Status Start();
  // Interrupts pacing waits; the thread ends after its current delivery.
  void Stop();
  Progress progress() const;
  // Blocks until the file is fully replayed or the source stopped.
  void WaitDone() { done_.WaitForNotification(); }

 private:
  void Run(std::FILE* file);
  void DrawProgress(bool final);

  const ReplayOptions options_;
  UpdateSink* const sink_;
  const BadLineFn on_bad_line_;
  std::thread thread_;
  absl::Notification stop_;
  absl::Notification done_;
  std::atomic<int64_t> lines_{0}, bad_lines_{0}, bytes_{0}, total_bytes_{0};
  bool draw_progress_ = false;
  absl::Time last_draw_ = absl::InfinitePast();
  absl::Time started_;
};

}  // namespace iss::ingest
