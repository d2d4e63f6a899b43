// Owns: a small pool of PostgreSQL connections for the query API (a pqxx
// connection serves one thread at a time). Connections are opened lazily and
// replaced after a failure, so a database restart heals without a restart of
// the service.
#pragma once

#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace iss::storage {

class ConnectionPool {
 public:
  ConnectionPool(std::string dsn, size_t size) : dsn_(std::move(dsn)), size_(size) {}

  // Runs `fn` on a pooled connection inside pg::Guard. Waits up to `wait` for
  // a free connection (RESOURCE_EXHAUSTED after). A connection whose call
  // failed with UNAVAILABLE is dropped and reopened next time.
  absl::Status Run(const std::function<void(pqxx::connection&)>& fn,
                   absl::Duration wait = absl::Seconds(5));

  // Opens up to `n` connections now, so the first queries after start-up do
  // not each pay for a connection (seconds where name resolution is slow).
  // A failure is returned but changes nothing: Run() opens on demand anyway.
  absl::Status Warm(size_t n);

  size_t size() const { return size_; }

 private:
  // Connects for a slot already counted in open_; gives the slot back on failure.
  absl::StatusOr<std::unique_ptr<pqxx::connection>> OpenReserved() ABSL_LOCKS_EXCLUDED(mu_);

  const std::string dsn_;
  const size_t size_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  size_t open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + leased
};

}  // namespace iss::storage
