#include "services/storage/conn_pool.h"

#include <algorithm>

#include "absl/status/status.h"
#include "common/pg.h"

namespace iss::storage {

absl::Status ConnectionPool::Run(const std::function<void(pqxx::connection&)>& fn,
                                 absl::Duration wait) {
  std::unique_ptr<pqxx::connection> conn;
  {
    absl::MutexLock lock(&mu_);
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < size_;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&available), wait)) {
      return absl::ResourceExhaustedError("all database connections are busy");
    }
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    } else {
      ++open_;  // reserve the slot before connecting outside the lock
    }
  }
  if (conn == nullptr) {
    auto opened = OpenReserved();
    if (!opened.ok()) return opened.status();
    conn = *std::move(opened);
  }
  absl::Status s = pg::Guard([&] { fn(*conn); });
  const bool broken = absl::IsUnavailable(s) || !conn->is_open();
  absl::MutexLock lock(&mu_);
  if (broken) {
    --open_;  // dropped; a fresh one is opened on demand
  } else {
    idle_.push_back(std::move(conn));
  }
  return s;
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> ConnectionPool::OpenReserved() {
  auto opened = pg::Connect(dsn_);
  if (!opened.ok()) {
    absl::MutexLock lock(&mu_);
    --open_;  // the slot goes back
  }
  return opened;
}

absl::Status ConnectionPool::Warm(size_t n) {
  n = std::min(n, size_);
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (open_ >= n) return absl::OkStatus();
      ++open_;  // reserve the slot before connecting outside the lock
    }
    auto opened = OpenReserved();
    if (!opened.ok()) return opened.status();
    absl::MutexLock lock(&mu_);
    idle_.push_back(*std::move(opened));
  }
}

}  // namespace iss::storage
