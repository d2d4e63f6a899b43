// Owns: recording every update a source delivers, as it was received, to
// rotating files in the replay format (replay_format.h), so a live session
// becomes an offline demo or a regression fixture (ISS_INGEST_SOURCE=replay
// with the file or its directory plays it again, with its receive times).
//
// The live path only copies the update's fields into a bounded in-memory
// queue (Offer(): never blocks on I/O, never waits for the writer; when the
// queue is full the update is not recorded and counted as dropped: the feed
// is never slowed down for the recording). A writer thread, at a lower CPU
// priority (nice 10), formats the lines and writes them, so formatting,
// compression and the disk are off the live path, and on a saturated CPU the
// recording falls behind rather than the feed.
//
// Files: <dir>/rec-<UTC start, microseconds>-<n>.jsonl (or .jsonl.gz), each
// starting with a '#' comment line; a new file once the current one holds
// max_file_bytes of lines (uncompressed) or is max_file_age old. With
// max_total_bytes, the oldest recordings in the directory (rec-*.jsonl[.gz]
// only) are deleted when a file is closed and the directory holds more. A
// file being written is flushed about once a second: after a crash it is
// readable up to about the last second (a gzip file is replayed up to where it
// ends).
//
// Metrics: iss_ingest_record_updates_total (written), _dropped_total (queue
// full or write failure), _bytes_total (lines written, uncompressed),
// _files_total, _files_deleted_total, _write_errors_total, and the gauge
// iss_ingest_record_queue_depth.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/ingestion/update.h"

namespace iss::ingest {

struct RecorderOptions {
  std::string dir;  // created if missing
  int64_t max_file_bytes = int64_t{64} << 20;
  absl::Duration max_file_age = absl::Hours(1);
  bool gzip = false;
  size_t queue_capacity = 100000;  // updates held for the writer
  int64_t max_total_bytes = 0;     // the directory's recordings; 0 = no bound
  // How often the writer wakes to write what was queued (and flushes).
  absl::Duration write_interval = absl::Milliseconds(200);
  // The writer thread's nice value: it gives way to the live path's threads.
  int writer_nice = 10;
};

class Recorder {
 public:
  // INVALID_ARGUMENT / FAILED_PRECONDITION naming the directory when it
  // cannot be created or written.
  static absl::StatusOr<std::unique_ptr<Recorder>> Start(RecorderOptions options);
  ~Recorder();  // Stop()

  // The live path: copies the update (not its raw line) for the writer.
  // False when it was dropped (queue full, or stopped).
  bool Offer(const RawUpdate& update);
  // Writes what is queued, closes the file, ends the writer.
  void Stop();

  struct Stats {
    uint64_t written = 0;
    uint64_t dropped = 0;
    uint64_t files = 0;
    uint64_t write_errors = 0;
  };
  Stats stats() const;
  // The file being written ("" when none is open).
  std::string current_file() const;

 private:
  class Output;

  explicit Recorder(RecorderOptions options);
  void Run();
  // The fields a replay line holds (`raw` left empty).
  void Write(const std::vector<RawUpdate>& batch);
  bool OpenFile(absl::Time now);
  // Counts and logs (rate limited) a failed open or write of path_.
  void Failed(const char* what);
  void CloseFile();
  void EnforceTotalBound();

  const RecorderOptions options_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  std::vector<RawUpdate> pending_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<size_t> queued_{0};  // pending_.size(), readable without the lock

  // Writer thread only.
  std::unique_ptr<Output> out_;
  std::string path_;
  int64_t file_bytes_ = 0;
  absl::Time file_opened_;
  absl::Time last_flush_;
  uint64_t sequence_ = 0;

  mutable absl::Mutex path_mu_;
  std::string current_ ABSL_GUARDED_BY(path_mu_);
  std::atomic<uint64_t> written_{0}, dropped_{0}, files_{0}, write_errors_{0};
};

// Offers each update to the recorder, then hands it on: the recording sees
// the update as the source delivered it, before validation.
class RecordingSink final : public UpdateSink {
 public:
  RecordingSink(Recorder* recorder, UpdateSink* next) : recorder_(recorder), next_(next) {}
  bool Deliver(RawUpdate update) override {
    recorder_->Offer(update);
    return next_->Deliver(std::move(update));
  }

 private:
  Recorder* const recorder_;
  UpdateSink* const next_;
};

}  // namespace iss::ingest
