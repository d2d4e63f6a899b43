// Owns: writing one batch of events and the consumer offsets that produced it
// in ONE PostgreSQL transaction, which is what makes the sink exactly-once:
//   1. make sure the day partitions the batch touches exist;
//   2. fast path: COPY (pqxx::stream_to) straight into the partitioned table
//      inside a savepoint, then fold the batch into the items table (last value,
//      last seen, total) and the per-minute counts;
//   3. if any row already exists (redelivery, a rebalance race) the savepoint is
//      rolled back and the batch takes the staging path: COPY into a temp
//      staging table, INSERT ... SELECT ... ON CONFLICT DO NOTHING (the
//      (item_id, source_ts, event_id) key absorbs the duplicates) and, in the
//      same statement, fold only the rows actually inserted into items/counts;
//   4. upsert the next offsets (pg::OffsetStore) and commit.
// A crash anywhere before the commit leaves neither rows nor offsets behind.
#pragma once

#include <cstdint>
#include <map>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/kafka.h"
#include "common/pg.h"
#include "iss/telemetry/v1/telemetry.pb.h"
#include "services/storage/partitions.h"

namespace iss::storage {

class BatchWriter {
 public:
  // `partitions` is not owned and is used only from the writer's thread.
  BatchWriter(std::string group_id, PartitionManager* partitions)
      : offsets_(std::move(group_id)), partitions_(partitions) {}

  // Returns the number of rows inserted (events already stored are skipped).
  // UNAVAILABLE when the connection broke: the caller reconnects and retries
  // the same batch, which is safe because nothing was committed or everything was.
  absl::StatusOr<int64_t> Write(pqxx::connection& conn,
                                const std::vector<iss::telemetry::v1::TelemetryEvent>& events,
                                const std::map<kafka::TopicPartition, int64_t>& next_offsets);

  const pg::OffsetStore& offsets() const { return offsets_; }

  // Tests turn the direct-COPY fast path off to exercise the staging path alone.
  void set_direct_copy(bool on) { direct_copy_ = on; }

 private:
  // True when it created the session's temp staging table in `txn`.
  bool EnsureStaging(pqxx::work& txn, int backend_pid);
  bool direct_copy_ = true;
  pg::OffsetStore offsets_;
  PartitionManager* partitions_;
  int staging_backend_pid_ = 0;  // the session that has the temp table
};

}  // namespace iss::storage
