// Owns: the thread that writes and commits one sealed batch of the sink while
// the consumer thread polls and decodes the next one (a two-stage pipeline).
//
// At most one batch is in flight: Submit() needs the previous one taken back
// (Take()), so commits happen one after another, in submission order, and the
// caller always knows which batch the database may be working on. Whatever the
// write function touches (the sink's connection, BatchWriter) belongs to this
// thread from Submit() until Take() returns the batch, and to the caller
// otherwise; Take() gives the happens-before edge back.
// A failed write hands the batch back untouched with its status: retrying,
// merging or dropping it is the caller's decision, never this class's.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/kafka.h"
#include "iss/telemetry/v1/telemetry.pb.h"

namespace iss::storage {

// One unit of commit: events (with the partition each came from) and the next
// offset of every partition the batch consumed (poison messages included).
struct SinkBatch {
  std::vector<iss::telemetry::v1::TelemetryEvent> events;
  std::vector<int32_t> partitions;  // partitions[i] is the partition of events[i]
  std::map<kafka::TopicPartition, int64_t> offsets;
  bool empty() const { return events.empty() && offsets.empty(); }
};

class CommitStage {
 public:
  // Runs on the stage's thread, one batch at a time. It may consume the events
  // (e.g. move them out) only when it returns OK.
  using WriteFn = std::function<absl::Status(SinkBatch& batch)>;

  struct Done {
    absl::Status status;
    SinkBatch batch;  // as submitted when !status.ok()
  };

  explicit CommitStage(WriteFn write);
  ~CommitStage();  // finishes the batch in flight (if any), then joins
  CommitStage(const CommitStage&) = delete;
  CommitStage& operator=(const CommitStage&) = delete;

  // Hands `batch` to the stage's thread. Requires !Busy().
  void Submit(SinkBatch batch);
  // A batch was submitted and not yet taken back (written or not).
  bool Busy() const;
  // The submitted batch once its write has finished: waits for it when `wait`,
  // otherwise returns nullopt while it is still being written. nullopt when
  // nothing was submitted.
  std::optional<Done> Take(bool wait);

 private:
  enum class State { kIdle, kQueued, kWriting, kDone };
  void Loop();

  const WriteFn write_;
  mutable absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kIdle;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  SinkBatch batch_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace iss::storage
