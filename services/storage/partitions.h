// Owns: the day partitions of the telemetry table: creating them ahead of time
// and on demand (any UTC day a batch touches), and dropping those that fell out
// of the retention window. DDL from every replica is serialised with one
// transaction-scoped advisory lock, so replicas never race on CREATE/DROP.
#pragma once

#include <cstdint>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace iss::storage {

// Days since 1970-01-01 (UTC) of a timestamp in microseconds.
int64_t UtcDay(int64_t micros);
// "telemetry_p20261122".
std::string PartitionName(int64_t day);

class PartitionManager {
 public:
  explicit PartitionManager(absl::Duration retention) : retention_(retention) {}

  // Makes sure a partition exists for each day not yet past retention (rows already parked in the
  // default partition for that day are moved into it). Remembers what exists,
  // so the common case costs no round trip.
  absl::Status Ensure(pqxx::connection& conn, const std::vector<int64_t>& days,
                      absl::Time now = absl::Now());

  // Creates today-2 .. today+2 and drops partitions whose whole day is older
  // than now - retention (also deleting such rows from the default partition
  // and minute counts older than two hours). Returns how many were dropped.
  absl::StatusOr<int> Maintain(pqxx::connection& conn, absl::Time now);

  // Day partitions that exist, ascending.
  static absl::StatusOr<std::vector<int64_t>> ListDays(pqxx::connection& conn);

  // Forget the cache (after a reconnect, or when another replica may have dropped some).
  void Forget() { known_.clear(); }

 private:
  absl::Status CreateDay(pqxx::connection& conn, int64_t day);
  const absl::Duration retention_;
  absl::flat_hash_set<int64_t> known_;
};

}  // namespace iss::storage
