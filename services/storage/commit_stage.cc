#include "services/storage/commit_stage.h"

#include <cstdlib>
#include <utility>

namespace iss::storage {

CommitStage::CommitStage(WriteFn write) : write_(std::move(write)) {
  thread_ = std::thread([this] { Loop(); });
}

CommitStage::~CommitStage() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void CommitStage::Submit(SinkBatch batch) {
  absl::MutexLock lock(&mu_);
  if (state_ != State::kIdle) std::abort();  // one batch in flight, by contract
  batch_ = std::move(batch);
  status_ = absl::OkStatus();
  state_ = State::kQueued;
}

bool CommitStage::Busy() const {
  absl::MutexLock lock(&mu_);
  return state_ != State::kIdle;
}

std::optional<CommitStage::Done> CommitStage::Take(bool wait) {
  absl::MutexLock lock(&mu_);
  if (state_ == State::kIdle) return std::nullopt;
  if (wait) {
    mu_.Await(absl::Condition(
        +[](State* s) { return *s == State::kDone; }, &state_));
  } else if (state_ != State::kDone) {
    return std::nullopt;
  }
  Done done{std::move(status_), std::move(batch_)};
  batch_ = SinkBatch();
  state_ = State::kIdle;
  return done;
}

void CommitStage::Loop() {
  for (;;) {
    SinkBatch batch;
    {
      absl::MutexLock lock(&mu_);
      // On stop, a batch already queued is still written: the caller gave it
      // away and may be waiting for it in Take().
      mu_.Await(absl::Condition(
          +[](CommitStage* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->state_ == State::kQueued || self->stop_;
          },
          this));
      if (state_ != State::kQueued) return;
      batch = std::move(batch_);
      state_ = State::kWriting;
    }
    absl::Status status = write_(batch);
    absl::MutexLock lock(&mu_);
    batch_ = std::move(batch);
    status_ = std::move(status);
    state_ = State::kDone;
  }
}

}  // namespace iss::storage
