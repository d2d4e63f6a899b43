// Owns: the storage schema's housekeeping outside the hot path:
//   - SeedCatalog: upserts the shipped item catalog into the items table at
//     start, so ListItems shows names and units before any data arrives;
//   - Upkeep: a background thread that every `interval` creates the day
//     partitions around today and drops those past the retention window.
#pragma once

#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/catalog.h"
#include "services/storage/partitions.h"

namespace iss::storage {

// Returns how many catalog rows were upserted.
absl::StatusOr<int64_t> SeedCatalog(pqxx::connection& conn, const Catalog& catalog);

class Upkeep {
 public:
  Upkeep(std::string dsn, absl::Duration retention, absl::Duration interval)
      : dsn_(std::move(dsn)), partitions_(retention), interval_(interval) {}
  ~Upkeep() { Stop(); }

  // One round now (partitions ahead + retention); used at start and by the thread.
  absl::Status RunOnce(absl::Time now = absl::Now());
  void Start();
  void Stop();

 private:
  const std::string dsn_;
  PartitionManager partitions_;
  const absl::Duration interval_;
  std::unique_ptr<pqxx::connection> conn_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace iss::storage
