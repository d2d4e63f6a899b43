// BatchWriter and PartitionManager against a real PostgreSQL (fixture).
#include "services/storage/batch_writer.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "services/storage/partitions.h"
#include "services/storage/test_util.h"

namespace iss::storage {
namespace {

using iss::telemetry::v1::TelemetryEvent;
using testutil::Count;
using testutil::MakeEvent;

const absl::Time kT0 = absl::FromUnixSeconds(1795000000);  // 2026-11-18T...

class BatchWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dsn_ = testutil::MigratedDsn();
    ASSERT_FALSE(dsn_.empty());
    auto conn = pg::Connect(dsn_);
    ASSERT_TRUE(conn.ok()) << conn.status();
    conn_ = *std::move(conn);
  }
  std::vector<TelemetryEvent> Events(int n, absl::Duration step = absl::Seconds(1)) {
    std::vector<TelemetryEvent> out;
    for (int i = 0; i < n; ++i) {
      out.push_back(MakeEvent(i % 2 ? "NODE3000005" : "S0000004", kT0 + i * step, absl::StrCat(i)));
    }
    return out;
  }
  std::string dsn_;
  std::unique_ptr<pqxx::connection> conn_;
  PartitionManager partitions_{absl::InfiniteDuration()};
};

TEST_F(BatchWriterTest, RedeliveredBatchInsertsNothingAndCountsNothingTwice) {
  BatchWriter writer("g", &partitions_);
  const auto events = Events(100);
  const kafka::TopicPartition tp{"telemetry.raw.v1", 3};
  auto first = writer.Write(*conn_, events, {{tp, 100}});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 100);
  // The same offsets delivered again (crash before the broker commit, rebalance).
  auto again = writer.Write(*conn_, events, {{tp, 100}});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 0);
  EXPECT_EQ(Count(dsn_, "SELECT count(*) FROM telemetry"), 100);
  EXPECT_EQ(Count(dsn_, "SELECT count(DISTINCT event_id) FROM telemetry"), 100);
  EXPECT_EQ(Count(dsn_, "SELECT total_updates FROM items WHERE item_id = 'NODE3000005'"), 50);
  EXPECT_EQ(Count(dsn_, "SELECT sum(updates) FROM item_minute_counts"), 100);
  auto stored = writer.offsets().Load(*conn_, {tp});
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->at(tp), 100);
}

TEST_F(BatchWriterTest, OverlappingBatchInsertsOnlyTheNewRows) {
  BatchWriter writer("g", &partitions_);
  auto events = Events(60);
  std::vector<TelemetryEvent> head(events.begin(), events.begin() + 40);
  std::vector<TelemetryEvent> tail(events.begin() + 20, events.end());
  ASSERT_EQ(*writer.Write(*conn_, head, {}), 40);
  EXPECT_EQ(*writer.Write(*conn_, tail, {}), 20);
  EXPECT_EQ(Count(dsn_, "SELECT count(*) FROM telemetry"), 60);
}

TEST_F(BatchWriterTest, RowsLandInDayPartitionsCreatedOnDemand) {
  BatchWriter writer("g", &partitions_);
  // Three UTC days, none created before.
  auto events = Events(3, absl::Hours(24));
  ASSERT_TRUE(writer.Write(*conn_, events, {}).ok());
  EXPECT_EQ(Count(dsn_, "SELECT count(*) FROM telemetry_default"), 0);
  EXPECT_EQ(Count(dsn_, "SELECT count(DISTINCT tableoid) FROM telemetry"), 3);
  auto days = PartitionManager::ListDays(*conn_);
  ASSERT_TRUE(days.ok()) << days.status();
  EXPECT_EQ(days->size(), 3u);
}

TEST_F(BatchWriterTest, ItemKeepsItsNewestValueWhateverTheArrivalOrder) {
  BatchWriter writer("g", &partitions_);
  ASSERT_TRUE(
      writer.Write(*conn_, {MakeEvent("NODE3000005", kT0 + absl::Seconds(10), "9")}, {}).ok());
  ASSERT_TRUE(writer.Write(*conn_, {MakeEvent("NODE3000005", kT0, "1")}, {}).ok());
  pqxx::nontransaction tx(*conn_);
  const auto row =
      tx.exec1("SELECT last_value, total_updates FROM items WHERE item_id = 'NODE3000005'");
  EXPECT_EQ(row[0].as<std::string>(), "9");
  EXPECT_EQ(row[1].as<int64_t>(), 2);
}

TEST_F(BatchWriterTest, StoresNullsNumbersAndStatusFaithfully) {
  BatchWriter writer("g", &partitions_);
  TelemetryEvent text = MakeEvent("USLAB000086", kT0, "OPEN");
  TelemetryEvent null_value = MakeEvent("USLAB000087", kT0, "x");
  null_value.clear_value();
  null_value.mutable_status()->clear_class_();
  null_value.set_calibrated_data("tab\there\\and\nnewline");
  null_value.set_event_id(ComputeEventId(null_value));
  ASSERT_TRUE(writer.Write(*conn_, {text, null_value, MakeEvent("A", kT0, "12.5")}, {}).ok());
  pqxx::nontransaction tx(*conn_);
  EXPECT_TRUE(
      tx.exec1("SELECT value_num FROM telemetry WHERE item_id = 'USLAB000086'")[0].is_null());
  EXPECT_EQ(tx.exec1("SELECT value_num FROM telemetry WHERE item_id = 'A'")[0].as<double>(), 12.5);
  const auto row = tx.exec1(
      "SELECT value, status_class, calibrated_data FROM telemetry WHERE item_id = 'USLAB000087'");
  EXPECT_TRUE(row[0].is_null());
  EXPECT_TRUE(row[1].is_null());
  EXPECT_EQ(row[2].as<std::string>(), "tab\there\\and\nnewline");
}

// The COPY rows are formatted by hand and sent in ~64 KiB chunks: every byte
// that needs escaping, a literal "\N" (text, not NULL), and numbers that need
// all 17 digits must come back exactly, from any chunk.
TEST_F(BatchWriterTest, CopyFormattingKeepsEveryByteAndNumberAcrossChunks) {
  BatchWriter writer("g", &partitions_);
  std::vector<TelemetryEvent> events;
  for (int i = 0; i < 3000; ++i) {  // ~0.5 MiB of rows: several chunks
    events.push_back(MakeEvent(absl::StrCat("ITEM_", i % 7), kT0 + absl::Milliseconds(i),
                               absl::StrCat(i, ".25")));
  }
  TelemetryEvent odd = MakeEvent("ODD", kT0, "\\N");
  odd.set_calibrated_data("cr\rbs\bff\fvt\vtab\tnl\nbackslash\\end");
  odd.set_source("src\twith\\tab");
  odd.mutable_status()->set_color("");
  odd.set_event_id(ComputeEventId(odd));
  events.insert(events.begin() + 1700, odd);
  const std::vector<std::pair<std::string, double>> numbers = {
      {"0.30000000000000004", 0.1 + 0.2},
      {"-1e-300", -1e-300},
      {"123456789.12345679", 123456789.12345679}};
  for (size_t k = 0; k < numbers.size(); ++k) {
    events.push_back(MakeEvent(absl::StrCat("NUM_", k), kT0, numbers[k].first));
  }
  auto n = writer.Write(*conn_, events, {});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, static_cast<int64_t>(events.size()));
  pqxx::nontransaction tx(*conn_);
  const auto row = tx.exec1(
      "SELECT value, calibrated_data, source, status_color, value_num FROM telemetry "
      "WHERE item_id = 'ODD'");
  EXPECT_EQ(row[0].as<std::string>(), "\\N");
  EXPECT_EQ(row[1].as<std::string>(), "cr\rbs\bff\fvt\vtab\tnl\nbackslash\\end");
  EXPECT_EQ(row[2].as<std::string>(), "src\twith\\tab");
  EXPECT_FALSE(row[3].is_null());
  EXPECT_EQ(row[3].as<std::string>(), "");
  EXPECT_TRUE(row[4].is_null());
  for (size_t k = 0; k < numbers.size(); ++k) {
    const auto num = tx.exec1(
        absl::StrCat("SELECT value_num::text, value FROM telemetry WHERE item_id = 'NUM_", k, "'"));
    EXPECT_EQ(num[0].as<double>(), numbers[k].second) << num[1].as<std::string>();
  }
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM telemetry WHERE item_id LIKE 'ITEM\\_%' AND "
                     "value_num = value::double precision")[0]
                .as<int64_t>(),
            3000);
}

TEST_F(BatchWriterTest, BrokenConnectionLeavesNothingAndRetryOnFreshConnectionWorks) {
  BatchWriter writer("g", &partitions_);
  const auto events = Events(10);
  ASSERT_TRUE(writer.Write(*conn_, {events[0]}, {}).ok());  // the day's partition exists
  {
    pqxx::connection killer(dsn_);
    pqxx::nontransaction tx(killer);
    tx.exec_params("SELECT pg_terminate_backend($1)", conn_->backendpid());
  }
  const kafka::TopicPartition tp{"t", 0};
  auto failed = writer.Write(*conn_, events, {{tp, 10}});
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(Count(dsn_, "SELECT count(*) FROM telemetry"), 1);
  auto fresh = pg::Connect(dsn_);
  ASSERT_TRUE(fresh.ok());
  auto retried = writer.Write(**fresh, events, {{tp, 10}});
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(*retried, 9);
  EXPECT_EQ(Count(dsn_, "SELECT count(*) FROM telemetry"), 10);
}

TEST_F(BatchWriterTest, StagingPathAloneIsExactlyOnceToo) {
  BatchWriter writer("g", &partitions_);
  writer.set_direct_copy(false);
  const auto events = Events(30);
  ASSERT_EQ(*writer.Write(*conn_, events, {}), 30);
  ASSERT_EQ(*writer.Write(*conn_, events, {}), 0);
  EXPECT_EQ(Count(dsn_, "SELECT count(*) FROM telemetry"), 30);
  EXPECT_EQ(Count(dsn_, "SELECT sum(total_updates) FROM items"), 30);
}

// received_ts is stored as sent, NULL when the event has none (one from
// before the field existed), on the COPY path and on the staging path.
TEST_F(BatchWriterTest, StoresTheReceiveTimeOnBothPaths) {
  for (bool direct : {true, false}) {
    SetUp();  // a fresh database per path
    PartitionManager partitions(absl::InfiniteDuration());
    BatchWriter writer("g", &partitions);
    writer.set_direct_copy(direct);
    auto events = Events(4);
    SetTimestampMicros(absl::ToUnixMicros(kT0 - absl::Hours(24 * 40)) + 7,
                       events[0].mutable_received_ts());
    SetTimestampMicros(absl::ToUnixMicros(kT0) + 250000, events[1].mutable_received_ts());
    ASSERT_EQ(*writer.Write(*conn_, events, {}), 4);
    EXPECT_EQ(Count(dsn_, "SELECT count(*) FROM telemetry WHERE received_ts IS NULL"), 2) << direct;
    EXPECT_EQ(Count(dsn_, absl::StrCat("SELECT (extract(epoch FROM received_ts) * 1e6)::bigint "
                                       "FROM telemetry WHERE event_id = '",
                                       events[0].event_id(), "'")),
              absl::ToUnixMicros(kT0 - absl::Hours(24 * 40)) + 7)
        << direct;
    EXPECT_EQ(Count(dsn_, absl::StrCat("SELECT (extract(epoch FROM received_ts) * 1e6)::bigint "
                                       "FROM telemetry WHERE event_id = '",
                                       events[1].event_id(), "'")),
              absl::ToUnixMicros(kT0) + 250000)
        << direct;
  }
}

TEST_F(BatchWriterTest, LostStagingTableIsRecreatedAfterOneFailedAttempt) {
  // The writer remembers which backend has its temp table. A backend PID can
  // come back after a server restart, with no table behind it; dropping the
  // table on the same session plays that. One attempt fails, the next heals.
  BatchWriter writer("g", &partitions_);
  writer.set_direct_copy(false);
  const auto events = Events(20);
  const std::vector<TelemetryEvent> first(events.begin(), events.begin() + 10);
  const std::vector<TelemetryEvent> rest(events.begin() + 10, events.end());
  ASSERT_EQ(*writer.Write(*conn_, first, {}), 10);
  {
    pqxx::nontransaction tx(*conn_);
    tx.exec("DROP TABLE telemetry_staging");
  }
  EXPECT_FALSE(writer.Write(*conn_, rest, {}).ok());
  auto retried = writer.Write(*conn_, rest, {});
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(*retried, 10);
  EXPECT_EQ(Count(dsn_, "SELECT count(*) FROM telemetry"), 20);
}

TEST_F(BatchWriterTest, DuplicateInsideOneBatchIsStoredOnce) {
  BatchWriter writer("g", &partitions_);
  auto events = Events(5);
  events.push_back(events[2]);  // a producer retry duplicated one message
  ASSERT_EQ(*writer.Write(*conn_, events, {}), 5);
  EXPECT_EQ(Count(dsn_, "SELECT count(*) FROM telemetry"), 5);
  EXPECT_EQ(Count(dsn_, "SELECT sum(total_updates) FROM items"), 5);
}

TEST_F(BatchWriterTest, OffsetsAloneCommitForABatchOfPoisonMessages) {
  BatchWriter writer("g", &partitions_);
  const kafka::TopicPartition tp{"t", 5};
  ASSERT_TRUE(writer.Write(*conn_, {}, {{tp, 7}}).ok());
  EXPECT_EQ(writer.offsets().Load(*conn_, {tp})->at(tp), 7);
}

TEST_F(BatchWriterTest, CreatingADayMovesRowsParkedInTheDefaultPartition) {
  {
    pqxx::work tx(*conn_);
    tx.exec(
        "INSERT INTO telemetry (item_id, source_ts, event_id, ingest_ts, schema_version)"
        " VALUES ('A', '2026-11-18 10:00:00+00', 'e1', now(), 1)");
    tx.commit();
  }
  EXPECT_EQ(Count(dsn_, "SELECT count(*) FROM telemetry_default"), 1);
  ASSERT_TRUE(partitions_.Ensure(*conn_, {UtcDay(absl::ToUnixMicros(kT0))}).ok());
  EXPECT_EQ(Count(dsn_, "SELECT count(*) FROM telemetry_default"), 0);
  EXPECT_EQ(Count(dsn_, "SELECT count(*) FROM telemetry_p20261118"), 1);
}

TEST_F(BatchWriterTest, DaysPastRetentionGetNoPartitionAndWaitInTheDefault) {
  PartitionManager retention(absl::Hours(24 * 3));
  BatchWriter writer("g", &retention);
  const absl::Time old = absl::Now() - absl::Hours(24 * 10);
  ASSERT_EQ(*writer.Write(*conn_, {MakeEvent("A", old, "1")}, {}), 1);
  EXPECT_EQ(Count(dsn_, "SELECT count(*) FROM telemetry_default"), 1);
  EXPECT_TRUE(PartitionManager::ListDays(*conn_)->empty());
  ASSERT_TRUE(retention.Maintain(*conn_, absl::Now()).ok());
  EXPECT_EQ(Count(dsn_, "SELECT count(*) FROM telemetry_default"), 0);
}

TEST_F(BatchWriterTest, MaintainCreatesDaysAroundTodayAndDropsExpiredOnes) {
  PartitionManager retention(absl::Hours(24 * 3));
  const absl::Time now = kT0;
  const int64_t today = UtcDay(absl::ToUnixMicros(now));
  // As of ten days earlier, so that every one of them is created.
  ASSERT_TRUE(
      retention.Ensure(*conn_, {today - 10, today - 4, today - 3}, now - absl::Hours(240)).ok());
  auto dropped = retention.Maintain(*conn_, now);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  auto days = PartitionManager::ListDays(*conn_);
  ASSERT_TRUE(days.ok());
  // today-10 and today-4 end before now-72h; today-3 still holds rows inside it.
  EXPECT_EQ(*dropped, 2);
  EXPECT_EQ(*days,
            (std::vector<int64_t>{today - 3, today - 2, today - 1, today, today + 1, today + 2}));
}

}  // namespace
}  // namespace iss::storage
