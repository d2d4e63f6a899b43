// Replay over real gRPC against a real PostgreSQL: clients that never read
// must not take the query API's connections, and paging must return exactly
// the rows a single ordered query returns.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/grpc_server.h"
#include "common/grpc_util.h"
#include "common/health.h"
#include "iss/storage/v1/storage.grpc.pb.h"
#include "services/storage/batch_writer.h"
#include "services/storage/conn_pool.h"
#include "services/storage/query_rig.h"
#include "services/storage/query_store.h"
#include "services/storage/storage_service.h"
#include "services/storage/tail_hub.h"
#include "services/storage/test_util.h"
#include "tests/support/wait.h"

namespace iss::storage {
namespace {

namespace v1 = iss::storage::v1;
using iss::telemetry::v1::TelemetryEvent;
using testutil::MakeEvent;

const absl::Time kT0 = absl::FromUnixSeconds(1795000000);
constexpr size_t kPoolSize = 4;
constexpr int kPageRows = 50;

testutil::QueryRig* rw = nullptr;

class ReplayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string dsn = testutil::MigratedDsn();
    ASSERT_FALSE(dsn.empty());
    auto conn = pg::Connect(dsn);
    ASSERT_TRUE(conn.ok());
    std::vector<TelemetryEvent> events;
    // Dense: ten items at the same instant, several values of one item at one
    // instant (ties broken by item_id, then event_id), across page edges.
    for (int t = 0; t < 300; ++t) {
      for (int item = 0; item < 10; ++item) {
        events.push_back(MakeEvent(absl::StrCat("DENSE0", item), kT0 + absl::Milliseconds(250 * t),
                                   absl::StrCat(t)));
      }
      events.push_back(MakeEvent("DENSE00", kT0 + absl::Milliseconds(250 * t), "dup"));
    }
    // Sparse: years apart, and one microsecond apart.
    for (int y : {-3, -1, 2}) {
      events.push_back(MakeEvent("SPARSE01", kT0 + absl::Hours(24 * 365 * y), "s"));
    }
    events.push_back(MakeEvent("SPARSE01", kT0 + absl::Microseconds(1), "u1"));
    events.push_back(MakeEvent("SPARSE02", kT0 + absl::Microseconds(2), "u2"));
    // Bulky: far more than gRPC's flow-control window and write buffers hold,
    // so a stream whose client does not read stalls the server's writes.
    for (int i = 0; i < 1500; ++i) {
      events.push_back(MakeEvent(absl::StrCat("BULK0", i % 3),
                                 kT0 + absl::Hours(24) + absl::Seconds(i), std::string(4000, 'x')));
    }
    PartitionManager partitions(absl::InfiniteDuration());
    BatchWriter writer("g", &partitions);
    auto written = writer.Write(**conn, events,
                                {{{"telemetry.raw.v1", 0}, static_cast<int64_t>(events.size())}});
    ASSERT_TRUE(written.ok()) << written.status();

    QueryLimits limits;
    limits.replay_page_rows = kPageRows;
    auto rig = testutil::QueryRig::Start(dsn, kPoolSize, limits);
    ASSERT_TRUE(rig.ok()) << rig.status();
    rw = rig->release();
  }
  static void TearDownTestSuite() {
    delete rw;
    rw = nullptr;
  }
};

v1::ReplayRequest Everything() {
  v1::ReplayRequest req;
  ToProto(absl::FromUnixSeconds(0), req.mutable_start_time());
  ToProto(absl::FromCivil(absl::CivilSecond(9999, 12, 31, 0, 0, 0), absl::UTCTimeZone()),
          req.mutable_end_time());
  return req;
}

using Key = std::tuple<int64_t, std::string, std::string>;  // source_us, item_id, event_id

Key KeyOf(const TelemetryEvent& e) {
  return {absl::ToUnixMicros(FromProto(e.source_ts())), e.item_id(), e.event_id()};
}

// The reference: one ordered query, no paging.
std::vector<Key> DirectKeys(const std::string& where) {
  pqxx::connection conn(rw->dsn);
  pqxx::read_transaction txn(conn);
  std::vector<Key> out;
  for (const auto& r : txn.exec(absl::StrCat(
           "SELECT (extract(epoch FROM source_ts) * 1000000)::bigint, item_id, event_id"
           " FROM telemetry ",
           where, " ORDER BY source_ts, item_id, event_id"))) {
    out.emplace_back(r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<std::string>());
  }
  return out;
}

int IdleInTransaction() {
  return static_cast<int>(
      testutil::Count(rw->dsn,
                      "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                      " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"));
}

TEST_F(ReplayTest, ClientsThatNeverReadDoNotStarveOtherQueries) {
  // As many endless replays as the pool has connections, none of them read.
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<std::unique_ptr<grpc::ClientReader<TelemetryEvent>>> readers;
  for (size_t i = 0; i < kPoolSize; ++i) {
    ctxs.push_back(std::make_unique<grpc::ClientContext>());
    readers.push_back(rw->stub->Replay(ctxs.back().get(), Everything()));
    // The first event is on its way: the server has run its first query.
    readers.back()->WaitForInitialMetadata();
  }

  // Their stalled writes hold no transaction open (which would also block
  // partition drops).
  EXPECT_TRUE(iss::testing::WaitFor([] { return IdleInTransaction() == 0; }))
      << IdleInTransaction() << " sessions idle in transaction";

  // The other RPCs still get a connection at once (the pool waits 5 s before
  // RESOURCE_EXHAUSTED; the deadline is below that).
  v1::GetLatestRequest latest_req;
  latest_req.add_item_ids("SPARSE01");
  grpc::ClientContext latest_ctx;
  latest_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  v1::GetLatestResponse latest;
  const grpc::Status ls = rw->stub->GetLatest(&latest_ctx, latest_req, &latest);
  ASSERT_TRUE(ls.ok()) << ls.error_code() << " " << ls.error_message();
  ASSERT_EQ(latest.values_size(), 1);
  EXPECT_EQ(latest.values(0).value(), "s");

  v1::QueryWindowRequest window_req;
  window_req.add_item_ids("DENSE03");
  ToProto(kT0, window_req.mutable_start_time());
  ToProto(kT0 + absl::Hours(1), window_req.mutable_end_time());
  grpc::ClientContext window_ctx;
  window_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  v1::QueryWindowResponse window;
  const grpc::Status ws = rw->stub->QueryWindow(&window_ctx, window_req, &window);
  ASSERT_TRUE(ws.ok()) << ws.error_code() << " " << ws.error_message();
  EXPECT_EQ(window.events_size(), 300);

  // And another replay, one that reads, runs to the end.
  v1::ReplayRequest small = Everything();
  small.add_item_ids("SPARSE02");
  grpc::ClientContext small_ctx;
  small_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  auto small_reader = rw->stub->Replay(&small_ctx, small);
  TelemetryEvent e;
  int n = 0;
  while (small_reader->Read(&e)) ++n;
  EXPECT_TRUE(small_reader->Finish().ok());
  EXPECT_EQ(n, 1);

  for (size_t i = 0; i < kPoolSize; ++i) {
    ctxs[i]->TryCancel();
    while (readers[i]->Read(&e)) {
    }
    EXPECT_EQ(readers[i]->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
}

TEST_F(ReplayTest, ManyPagesReturnExactlyTheRowsOfOneOrderedQuery) {
  const std::vector<Key> want = DirectKeys("");
  ASSERT_EQ(want.size(), 300u * 11 + 5 + 1500);

  grpc::ClientContext ctx;
  auto reader = rw->stub->Replay(&ctx, Everything());
  std::vector<Key> got;
  TelemetryEvent e;
  while (reader->Read(&e)) got.push_back(KeyOf(e));
  const grpc::Status s = reader->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want);

  // Straight through the store with pages of 7 (ties of ten items at one
  // instant straddle every page edge), filtered to a few items and a window
  // that starts and ends inside the data.
  v1::ReplayRequest req;
  req.add_item_ids("DENSE00");
  req.add_item_ids("DENSE07");
  req.add_item_ids("SPARSE01");
  ToProto(kT0, req.mutable_start_time());
  ToProto(kT0 + absl::Seconds(60), req.mutable_end_time());
  std::vector<Key> paged;
  QueryLimits pages_of_7;
  pages_of_7.replay_page_rows = 7;
  QueryStore store(rw->pool.get(), pages_of_7);
  const absl::Status rs = store.Replay(req, [&](const TelemetryEvent& ev) {
    paged.push_back(KeyOf(ev));
    return true;
  });
  ASSERT_TRUE(rs.ok()) << rs;
  const std::vector<Key> want_filtered = DirectKeys(absl::StrCat(
      "WHERE item_id IN ('DENSE00', 'DENSE07', 'SPARSE01') AND source_ts >= to_timestamp(",
      absl::ToUnixSeconds(kT0), ") AND source_ts < to_timestamp(",
      absl::ToUnixSeconds(kT0 + absl::Seconds(60)), ")"));
  EXPECT_EQ(want_filtered.size(), 240u * 3 + 1);
  EXPECT_TRUE(paged == want_filtered) << paged.size() << " vs " << want_filtered.size();

  // emit returning false stops the stream.
  int taken = 0;
  EXPECT_TRUE(
      rw->store->Replay(Everything(), [&](const TelemetryEvent&) { return ++taken < 3; }).ok());
  EXPECT_EQ(taken, 3);
}

TEST_F(ReplayTest, ReplaysQueryingAtOnceLeaveAConnectionForOtherRpcs) {
  // Its own pool and store, so waits here are short and the server untouched.
  ConnectionPool pool(rw->dsn, kPoolSize);
  QueryLimits limits;
  limits.replay_slot_wait = absl::Milliseconds(200);
  QueryStore store(&pool, limits);

  // Replays whose page query is slow (blocked behind a lock on telemetry).
  pqxx::connection locker(rw->dsn);
  auto lock = std::make_unique<pqxx::work>(locker);
  lock->exec("LOCK TABLE telemetry IN ACCESS EXCLUSIVE MODE");
  v1::ReplayRequest req = Everything();
  req.add_item_ids("SPARSE01");
  std::vector<absl::Status> results(kPoolSize - 1);
  std::vector<std::thread> replays;
  for (size_t i = 0; i + 1 < kPoolSize; ++i) {
    replays.emplace_back(
        [&, i] { results[i] = store.Replay(req, [](const TelemetryEvent&) { return true; }); });
  }
  const std::string waiting =
      "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
      " AND wait_event_type = 'Lock'";
  ASSERT_TRUE(iss::testing::WaitFor(
      [&] { return testutil::Count(rw->dsn, waiting) == static_cast<int64_t>(kPoolSize - 1); }));

  // One more replay would take the last connection: it is refused instead...
  // (On a thread: were it admitted, it would wait for the lock too.)
  absl::Status refused;
  std::atomic<bool> refused_done = false;
  std::thread extra([&] {
    refused = store.Replay(req, [](const TelemetryEvent&) { return true; });
    refused_done = true;
  });
  EXPECT_TRUE(iss::testing::WaitFor([&] { return refused_done.load(); }));
  if (refused_done) {
    EXPECT_TRUE(absl::IsResourceExhausted(refused)) << refused;
    EXPECT_NE(refused.message().find("replay"), std::string::npos) << refused;
  }

  // ...so GetLatest still finds one (items is not locked).
  v1::GetLatestRequest latest_req;
  latest_req.add_item_ids("SPARSE02");
  auto latest = store.GetLatest(latest_req);
  EXPECT_TRUE(latest.ok()) << latest.status();
  if (latest.ok()) {
    EXPECT_EQ(latest->values_size(), 1);
  }

  lock->commit();
  lock.reset();
  extra.join();
  for (auto& t : replays) t.join();
  for (const auto& r : results) EXPECT_TRUE(r.ok()) << r;
}

}  // namespace
}  // namespace iss::storage
