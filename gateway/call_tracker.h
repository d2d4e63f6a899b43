// Owns: the gateway's upstream gRPC calls in flight, so that shutdown can end
// live streams at once, let unary calls finish within the grace period, then
// cancel the rest and wait until no call touches the server any more.
#pragma once

#include <cstddef>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/client_context.h"

namespace iss::gateway {

class CallTracker {
 public:
  // False after CancelAllAndClose(): the caller must not start the call. A
  // request handled while the server shuts down then cannot leave an
  // upstream call running that nothing would cancel.
  [[nodiscard]] bool Track(grpc::ClientContext* ctx, bool stream) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (closed_) return false;
    calls_.insert(ctx);
    if (stream) streams_.insert(ctx);
    return true;
  }
  // Must be the caller's last touch of the server: shutdown may free it next.
  void Untrack(grpc::ClientContext* ctx) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    calls_.erase(ctx);
    streams_.erase(ctx);
  }
  void CancelAll(bool streams_only) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    for (grpc::ClientContext* ctx : streams_only ? streams_ : calls_) ctx->TryCancel();
  }
  void CancelAllAndClose() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    for (grpc::ClientContext* ctx : calls_) ctx->TryCancel();
  }
  size_t InFlight() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return calls_.size();
  }
  // Blocks until every tracked call has been untracked.
  void WaitUntilNone() ABSL_LOCKS_EXCLUDED(mu_) {
    mu_.LockWhen(absl::Condition(
        +[](absl::flat_hash_set<grpc::ClientContext*>* calls) { return calls->empty(); }, &calls_));
    mu_.Unlock();
  }

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_set<grpc::ClientContext*> calls_ ABSL_GUARDED_BY(mu_);    // every call
  absl::flat_hash_set<grpc::ClientContext*> streams_ ABSL_GUARDED_BY(mu_);  // server-streaming
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace iss::gateway
