// Every iss.storage.v1 RPC over real gRPC on loopback, against a real
// PostgreSQL holding rows written by the real BatchWriter.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "common/catalog.h"
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
#include "services/storage/upkeep.h"
#include "tests/support/wait.h"

namespace iss::storage {
namespace {

namespace v1 = iss::storage::v1;
using iss::telemetry::v1::TelemetryEvent;
using testutil::MakeEvent;

const absl::Time kT0 = absl::FromUnixSeconds(1795000000);

testutil::QueryRig* world = nullptr;

class QueryServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string dsn = testutil::MigratedDsn();
    ASSERT_FALSE(dsn.empty());
    auto conn = pg::Connect(dsn);
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(SeedCatalog(**conn, Catalog::Embedded()).ok());
    PartitionManager partitions(absl::InfiniteDuration());
    BatchWriter writer("g", &partitions);
    std::vector<TelemetryEvent> events;
    for (int i = 0; i < 30; ++i) {
      events.push_back(MakeEvent("NODE3000005", kT0 + absl::Seconds(10 * i), absl::StrCat(i)));
      // Received 250 ms after it was taken (the S0000004 rows below have no
      // received_ts: events from before it existed).
      ToProto(kT0 + absl::Seconds(10 * i) + absl::Milliseconds(250),
              events.back().mutable_received_ts());
    }
    for (int i = 0; i < 20; ++i) {
      events.push_back(MakeEvent("S0000004", kT0 + absl::Seconds(15 * i), absl::StrCat(2 * i)));
    }
    for (int i = 0; i < 5; ++i) {
      events.push_back(
          MakeEvent("USLAB000086", kT0 + absl::Seconds(20 * i), i % 2 ? "OPEN" : "CLOSED"));
    }
    for (int i = 0; i < 3; ++i) {
      events.push_back(MakeEvent("XUNKNOWN01", kT0 + absl::Seconds(i), "1"));
    }
    // The urine processor's state, an enumerated item: 16 = NORMAL, 32 = STANDBY.
    events.push_back(MakeEvent("NODE3000004", kT0, "16"));
    events.push_back(MakeEvent("NODE3000004", kT0 + absl::Seconds(30), "32"));
    auto written = writer.Write(**conn, events, {{{"telemetry.raw.v1", 2}, 60}});
    ASSERT_TRUE(written.ok()) << written.status();

    QueryLimits limits;
    auto rig = testutil::QueryRig::Start(dsn, 4, limits);
    ASSERT_TRUE(rig.ok()) << rig.status();
    world = rig->release();
  }
  static void TearDownTestSuite() {
    delete world;
    world = nullptr;
  }
  v1::StorageService::Stub& stub() { return *world->stub; }
};

v1::QueryWindowRequest Window(std::vector<std::string> ids, absl::Time start, absl::Time end) {
  v1::QueryWindowRequest r;
  for (auto& id : ids) r.add_item_ids(id);
  ToProto(start, r.mutable_start_time());
  ToProto(end, r.mutable_end_time());
  return r;
}

void ExpectInvalid(const grpc::Status& s, const std::string& field) {
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(s.error_message().rfind(field + ":", 0), 0u) << s.error_message();
}

std::vector<TelemetryEvent> AllPages(v1::StorageService::Stub& stub, v1::QueryWindowRequest req,
                                     int* pages) {
  std::vector<TelemetryEvent> out;
  *pages = 0;
  for (;;) {
    grpc::ClientContext ctx;
    v1::QueryWindowResponse resp;
    const grpc::Status s = stub.QueryWindow(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (!s.ok()) break;
    ++*pages;
    for (const auto& e : resp.events()) out.push_back(e);
    if (resp.next_page_token().empty() || *pages > 100) break;
    req.set_page_token(resp.next_page_token());
  }
  return out;
}

auto Key(const TelemetryEvent& e) {
  return std::make_tuple(FromProto(e.source_ts()), e.item_id(), e.event_id());
}

TEST_F(QueryServiceTest, QueryWindowPagesThroughEverythingInOrder) {
  auto req = Window({"S0000004", "NODE3000005"}, kT0, kT0 + absl::Hours(1));
  req.set_page_size(7);
  int pages = 0;
  const auto events = AllPages(stub(), req, &pages);
  ASSERT_EQ(events.size(), 50u);
  EXPECT_EQ(pages, 8);
  std::set<std::string> ids;
  for (size_t i = 0; i < events.size(); ++i) {
    ids.insert(events[i].event_id());
    if (i > 0) {
      EXPECT_LT(Key(events[i - 1]), Key(events[i])) << i;
    }
  }
  EXPECT_EQ(ids.size(), 50u);
  EXPECT_EQ(events.front().value(), "0");
  EXPECT_EQ(events.front().status().class_(), "24");
  EXPECT_EQ(events.front().source(), "test");
}

TEST_F(QueryServiceTest, QueryWindowDescendingPagesAreReversed) {
  auto req = Window({"S0000004", "NODE3000005"}, kT0, kT0 + absl::Hours(1));
  req.set_page_size(9);
  req.set_order(v1::ORDER_DESC);
  int pages = 0;
  const auto events = AllPages(stub(), req, &pages);
  ASSERT_EQ(events.size(), 50u);
  for (size_t i = 1; i < events.size(); ++i) EXPECT_GT(Key(events[i - 1]), Key(events[i])) << i;
  EXPECT_EQ(events.front().item_id(), "NODE3000005");
  EXPECT_EQ(events.front().value(), "29");
}

TEST_F(QueryServiceTest, QueryWindowNumericFilterAndTimeBounds) {
  auto req = Window({"NODE3000005"}, kT0, kT0 + absl::Seconds(200));  // i = 0..19
  req.mutable_value_filter()->set_min(10);
  req.mutable_value_filter()->set_max(25);
  int pages = 0;
  const auto events = AllPages(stub(), req, &pages);
  ASSERT_EQ(events.size(), 10u);
  EXPECT_EQ(events.front().value(), "10");
  EXPECT_EQ(events.back().value(), "19");
}

TEST_F(QueryServiceTest, QueryWindowUnknownItemIsEmptyNotAnError) {
  int pages = 0;
  EXPECT_TRUE(AllPages(stub(), Window({"NOPE"}, kT0, kT0 + absl::Hours(1)), &pages).empty());
}

TEST_F(QueryServiceTest, QueryWindowRejectsBadRequestsNamingTheField) {
  auto call = [&](const v1::QueryWindowRequest& r) {
    grpc::ClientContext ctx;
    v1::QueryWindowResponse resp;
    return stub().QueryWindow(&ctx, r, &resp);
  };
  ExpectInvalid(call(Window({"NODE3000005"}, kT0, kT0 - absl::Seconds(1))), "end_time");
  ExpectInvalid(call(Window({"NODE3000005"}, kT0, kT0 + absl::Hours(24 * 40))), "end_time");
  ExpectInvalid(call(Window({}, kT0, kT0 + absl::Hours(1))), "item_ids");
  auto big = Window({"NODE3000005"}, kT0, kT0 + absl::Hours(1));
  big.set_page_size(10001);
  ExpectInvalid(call(big), "page_size");
  // A token produced by one query is refused by another.
  auto first = Window({"NODE3000005"}, kT0, kT0 + absl::Hours(1));
  first.set_page_size(5);
  grpc::ClientContext ctx;
  v1::QueryWindowResponse page;
  ASSERT_TRUE(stub().QueryWindow(&ctx, first, &page).ok());
  ASSERT_FALSE(page.next_page_token().empty());
  auto other = Window({"S0000004"}, kT0, kT0 + absl::Hours(1));
  other.set_page_token(page.next_page_token());
  ExpectInvalid(call(other), "page_token");
  auto garbage = first;
  garbage.set_page_token("not-a-token");
  ExpectInvalid(call(garbage), "page_token");
}

// Hand-made tokens with the right query hash (anyone can compute it): before
// strict decoding these reached SQL and came back INTERNAL (SQLSTATE 22021
// invalid UTF-8, 22007/22008 timestamp out of range, or an int64 overflow).
TEST_F(QueryServiceTest, HandMadePageTokensAreInvalidArgumentNotSqlErrors) {
  auto req = Window({"NODE3000005"}, kT0, kT0 + absl::Hours(1));
  auto parsed = ParseWindowQuery(req, QueryLimits{});
  ASSERT_TRUE(parsed.ok());
  const std::string ev(64, 'a');
  auto token = [&](const std::string& us, const std::string& event, const std::string& item) {
    return absl::WebSafeBase64Escape(
        absl::StrCat("w1|", parsed->query_hash, "|", us, "|", event, "|", item));
  };
  const std::string in_window = absl::StrCat(absl::ToUnixMicros(kT0 + absl::Minutes(1)));
  const std::vector<std::string> hostile = {
      token("9223372036854775807", ev, "NODE3000005"),
      token("-9223372036854775808", ev, "NODE3000005"),
      token(in_window, std::string(64, '\xff'), "NODE3000005"),
      token(in_window, ev, "NODE3000005\xff"),
      token(in_window, ev, "S0000004"),
  };
  for (auto order : {v1::ORDER_ASC, v1::ORDER_DESC}) {
    for (const std::string& t : hostile) {
      SCOPED_TRACE(t);
      auto r = req;
      r.set_order(order);
      if (order == v1::ORDER_DESC) {
        auto d = ParseWindowQuery(r, QueryLimits{});
        ASSERT_TRUE(d.ok());
        std::string text;
        ASSERT_TRUE(absl::WebSafeBase64Unescape(t, &text));
        absl::StrReplaceAll({{parsed->query_hash, d->query_hash}}, &text);
        r.set_page_token(absl::WebSafeBase64Escape(text));
      } else {
        r.set_page_token(t);
      }
      grpc::ClientContext ctx;
      v1::QueryWindowResponse resp;
      ExpectInvalid(stub().QueryWindow(&ctx, r, &resp), "page_token");
    }
  }
  // The probe's ListItems token: the unfiltered listing's hash, then 0xFF.
  v1::ListItemsRequest items;
  items.set_page_token("aTF8ZDBhMzYzNmM0MjMxZDQ3Znz_");
  grpc::ClientContext ictx;
  v1::ListItemsResponse iresp;
  ExpectInvalid(stub().ListItems(&ictx, items, &iresp), "page_token");
  // And the server still answers the real thing.
  int pages = 0;
  req.set_page_size(7);
  EXPECT_EQ(AllPages(stub(), req, &pages).size(), 30u);
}

TEST_F(QueryServiceTest, GetLatestServesValuesAndNamesMissingIds) {
  v1::GetLatestRequest req;
  req.add_item_ids("NODE3000005");
  req.add_item_ids("NOPE");
  req.add_item_ids("USLAB000086");
  grpc::ClientContext ctx;
  v1::GetLatestResponse resp;
  ASSERT_TRUE(stub().GetLatest(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.values_size(), 2);
  EXPECT_EQ(resp.values(0).item_id(), "NODE3000005");
  EXPECT_EQ(resp.values(0).value(), "29");
  EXPECT_EQ(FromProto(resp.values(0).source_ts()), kT0 + absl::Seconds(290));
  EXPECT_EQ(resp.values(0).event_id().size(), 64u);
  EXPECT_EQ(resp.values(1).value(), "CLOSED");  // i = 4
  ASSERT_EQ(resp.missing_item_ids_size(), 1);
  EXPECT_EQ(resp.missing_item_ids(0), "NOPE");

  grpc::ClientContext all_ctx;
  v1::GetLatestResponse all;
  ASSERT_TRUE(stub().GetLatest(&all_ctx, v1::GetLatestRequest(), &all).ok());
  EXPECT_EQ(all.values_size(), 5);  // catalog items without data are not "latest"
}

TEST_F(QueryServiceTest, EnumeratedValuesCarryTheirLabel) {
  v1::GetLatestRequest req;
  req.add_item_ids("NODE3000004");
  req.add_item_ids("NODE3000005");
  req.add_item_ids("USLAB000086");
  grpc::ClientContext ctx;
  v1::GetLatestResponse resp;
  ASSERT_TRUE(stub().GetLatest(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.values_size(), 3);
  EXPECT_EQ(resp.values(0).value(), "32");
  EXPECT_EQ(resp.values(0).value_label(), "STANDBY");
  EXPECT_FALSE(resp.values(1).has_value_label());  // a percentage: not enumerated
  EXPECT_EQ(resp.values(2).value(), "CLOSED");
  EXPECT_FALSE(resp.values(2).has_value_label());  // enumerated, but not a value it lists

  v1::GetItemRequest item_req;
  item_req.set_item_id("NODE3000004");
  grpc::ClientContext ictx;
  v1::Item item;
  ASSERT_TRUE(stub().GetItem(&ictx, item_req, &item).ok());
  EXPECT_EQ(item.last_value_label(), "STANDBY");
  ASSERT_EQ(item.value_labels_size(), 7);
  EXPECT_EQ(item.value_labels(0).value(), "2");
  EXPECT_EQ(item.value_labels(0).label(), "STOP");
  EXPECT_EQ(item.value_labels(6).label(), "SYSTEM INITIALIZED");

  item_req.set_item_id("NODE3000005");
  grpc::ClientContext tctx;
  ASSERT_TRUE(stub().GetItem(&tctx, item_req, &item).ok());
  EXPECT_EQ(item.value_labels_size(), 0);
  EXPECT_FALSE(item.has_last_value_label());
}

// The server takes requests up to kMaxRequestBytes: the longest legitimate
// one (GetLatest naming 1000 ids of 64 bytes) fits; a longer list is refused
// by its length, a bigger message before it is parsed; the server serves on.
TEST_F(QueryServiceTest, RequestsOverTheSizeCapOrIdLimitAreRefused) {
  v1::GetLatestRequest largest;
  for (int i = 0; i < 1000; ++i) largest.add_item_ids(absl::StrFormat("%064d", i));
  ASSERT_LE(largest.ByteSizeLong(), static_cast<size_t>(kMaxRequestBytes));
  grpc::ClientContext ctx;
  v1::GetLatestResponse resp;
  const grpc::Status ok = stub().GetLatest(&ctx, largest, &resp);
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(resp.missing_item_ids_size(), 1000);

  largest.add_item_ids("ONE_TOO_MANY");
  grpc::ClientContext lctx;
  ExpectInvalid(stub().GetLatest(&lctx, largest, &resp), "item_ids");

  for (const size_t size : {static_cast<size_t>(kMaxRequestBytes), size_t{15} << 20}) {
    v1::GetLatestRequest big;
    big.add_item_ids(std::string(size, 'A'));
    grpc::ClientContext bctx;
    const grpc::Status s = stub().GetLatest(&bctx, big, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  }
  v1::QueryWindowRequest window = Window({"NODE3000005"}, kT0, kT0 + absl::Hours(1));
  window.set_page_token(std::string(kMaxRequestBytes, 'A'));
  grpc::ClientContext wctx;
  v1::QueryWindowResponse wresp;
  EXPECT_EQ(stub().QueryWindow(&wctx, window, &wresp).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);

  grpc::ClientContext after;
  v1::GetLatestRequest one;
  one.add_item_ids("NODE3000005");
  ASSERT_TRUE(stub().GetLatest(&after, one, &resp).ok());
  EXPECT_EQ(resp.values_size(), 1);
}

TEST_F(QueryServiceTest, GetSeriesAggregatesPerBucketInSql) {
  v1::GetSeriesRequest req;
  req.set_item_id("NODE3000005");
  ToProto(kT0, req.mutable_start_time());
  ToProto(kT0 + absl::Seconds(300), req.mutable_end_time());
  req.mutable_bucket()->set_seconds(60);
  grpc::ClientContext ctx;
  v1::GetSeriesResponse resp;
  ASSERT_TRUE(stub().GetSeries(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.buckets_size(), 5);
  const auto& b0 = resp.buckets(0);  // values 0..5
  EXPECT_EQ(FromProto(b0.start_time()), kT0);
  EXPECT_EQ(b0.min(), 0);
  EXPECT_EQ(b0.max(), 5);
  EXPECT_DOUBLE_EQ(b0.avg(), 2.5);
  EXPECT_EQ(b0.last(), "5");
  EXPECT_EQ(b0.count(), 6u);
  EXPECT_EQ(resp.buckets(4).last(), "29");

  // Text values: counted and last only.
  req.set_item_id("USLAB000086");
  grpc::ClientContext text_ctx;
  v1::GetSeriesResponse text;
  ASSERT_TRUE(stub().GetSeries(&text_ctx, req, &text).ok());
  ASSERT_EQ(text.buckets_size(), 2);  // t = 0,20,40 | 60,80
  EXPECT_FALSE(text.buckets(0).has_min());
  EXPECT_EQ(text.buckets(0).count(), 3u);
  EXPECT_EQ(text.buckets(1).last(), "CLOSED");

  req.clear_bucket();
  grpc::ClientContext bad_ctx;
  ExpectInvalid(stub().GetSeries(&bad_ctx, req, &text), "bucket");
}

TEST_F(QueryServiceTest, ListItemsShowsCatalogAndDataAndPages) {
  v1::ListItemsRequest req;
  req.set_search("NODE3000005");
  grpc::ClientContext ctx;
  v1::ListItemsResponse resp;
  ASSERT_TRUE(stub().ListItems(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.items_size(), 1);
  const v1::Item& urine = resp.items(0);
  const CatalogItem* cat = Catalog::Embedded().Find("NODE3000005");
  ASSERT_NE(cat, nullptr);
  EXPECT_TRUE(urine.in_catalog());
  EXPECT_EQ(urine.units(), cat->units);
  EXPECT_EQ(urine.name(), cat->name);
  EXPECT_EQ(urine.last_value(), "29");
  EXPECT_EQ(urine.total_updates(), 30u);
  EXPECT_DOUBLE_EQ(urine.updates_per_minute(), 0.5);  // committed within the last hour

  // Every item, 100 per page: the catalog plus the one id only the data knows.
  v1::ListItemsRequest page_req;
  page_req.set_page_size(100);
  std::set<std::string> ids;
  int pages = 0;
  for (;;) {
    grpc::ClientContext pctx;
    v1::ListItemsResponse page;
    ASSERT_TRUE(stub().ListItems(&pctx, page_req, &page).ok());
    ++pages;
    for (const auto& it : page.items()) ids.insert(it.item_id());
    if (page.next_page_token().empty() || pages > 20) break;
    page_req.set_page_token(page.next_page_token());
  }
  EXPECT_EQ(ids.size(), Catalog::Embedded().size() + 1);
  EXPECT_TRUE(ids.contains("XUNKNOWN01"));

  v1::ListItemsRequest by_discipline;
  by_discipline.set_discipline(cat->discipline);
  grpc::ClientContext dctx;
  v1::ListItemsResponse disc;
  ASSERT_TRUE(stub().ListItems(&dctx, by_discipline, &disc).ok());
  EXPECT_GT(disc.items_size(), 0);
  for (const auto& it : disc.items()) EXPECT_EQ(it.discipline(), cat->discipline);

  // A token of the unfiltered listing is not valid for a filtered one.
  by_discipline.set_page_token(page_req.page_token());
  grpc::ClientContext tctx;
  ExpectInvalid(stub().ListItems(&tctx, by_discipline, &disc), "page_token");
  v1::ListItemsRequest too_big;
  too_big.set_page_size(1001);
  grpc::ClientContext bctx;
  ExpectInvalid(stub().ListItems(&bctx, too_big, &disc), "page_size");
}

TEST_F(QueryServiceTest, GetItemKnowsDataOnlyIdsAndRefusesUnknownOnes) {
  v1::GetItemRequest req;
  req.set_item_id("XUNKNOWN01");
  grpc::ClientContext ctx;
  v1::Item item;
  ASSERT_TRUE(stub().GetItem(&ctx, req, &item).ok());
  EXPECT_FALSE(item.in_catalog());
  EXPECT_EQ(item.total_updates(), 3u);
  req.set_item_id("NOPE");
  grpc::ClientContext nctx;
  EXPECT_EQ(stub().GetItem(&nctx, req, &item).error_code(), grpc::StatusCode::NOT_FOUND);
  req.set_item_id("");
  grpc::ClientContext ectx;
  ExpectInvalid(stub().GetItem(&ectx, req, &item), "item_id");
}

TEST_F(QueryServiceTest, ReplayStreamsTheWindowInOrder) {
  v1::ReplayRequest req;
  ToProto(kT0, req.mutable_start_time());
  ToProto(kT0 + absl::Hours(1), req.mutable_end_time());
  grpc::ClientContext ctx;
  auto reader = stub().Replay(&ctx, req);
  std::vector<TelemetryEvent> got;
  TelemetryEvent e;
  while (reader->Read(&e)) got.push_back(e);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(got.size(), 60u);
  for (size_t i = 1; i < got.size(); ++i) EXPECT_LT(Key(got[i - 1]), Key(got[i]));

  req.add_item_ids("XUNKNOWN01");
  grpc::ClientContext one_ctx;
  auto one = stub().Replay(&one_ctx, req);
  int n = 0;
  while (one->Read(&e)) ++n;
  EXPECT_TRUE(one->Finish().ok());
  EXPECT_EQ(n, 3);

  ToProto(kT0 - absl::Hours(1), req.mutable_end_time());
  grpc::ClientContext bad_ctx;
  auto bad = stub().Replay(&bad_ctx, req);
  while (bad->Read(&e)) {
  }
  ExpectInvalid(bad->Finish(), "end_time");
}

TEST_F(QueryServiceTest, QueryWindowAndReplayReturnTheReceiveTime) {
  int pages = 0;
  const auto events =
      AllPages(stub(), Window({"S0000004", "NODE3000005"}, kT0, kT0 + absl::Hours(1)), &pages);
  ASSERT_EQ(events.size(), 50u);
  int with = 0;
  for (const auto& e : events) {
    if (e.item_id() == "NODE3000005") {
      ++with;
      ASSERT_TRUE(e.has_received_ts());
      EXPECT_EQ(FromProto(e.received_ts()), FromProto(e.source_ts()) + absl::Milliseconds(250));
    } else {
      EXPECT_FALSE(e.has_received_ts()) << "stored without one, returned without one";
    }
  }
  EXPECT_EQ(with, 30);

  v1::ReplayRequest req;
  req.add_item_ids("NODE3000005");
  ToProto(kT0, req.mutable_start_time());
  ToProto(kT0 + absl::Hours(1), req.mutable_end_time());
  grpc::ClientContext ctx;
  auto reader = stub().Replay(&ctx, req);
  TelemetryEvent e;
  int n = 0;
  while (reader->Read(&e)) {
    ++n;
    EXPECT_EQ(FromProto(e.received_ts()), FromProto(e.source_ts()) + absl::Milliseconds(250));
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(n, 30);
}

TEST_F(QueryServiceTest, TailPushesOnlyTheChosenItems) {
  v1::TailRequest req;
  req.add_item_ids("NODE3000005");
  grpc::ClientContext ctx;
  auto reader = stub().Tail(&ctx, req);
  reader->WaitForInitialMetadata();
  ASSERT_TRUE(iss::testing::WaitFor([] { return world->hub->subscribers() == 1; }));
  world->hub->Publish({std::make_shared<TelemetryEvent>(MakeEvent("S0000004", kT0, "1")),
                       std::make_shared<TelemetryEvent>(MakeEvent("NODE3000005", kT0, "77"))});
  TelemetryEvent e;
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.item_id(), "NODE3000005");
  EXPECT_EQ(e.value(), "77");
  ctx.TryCancel();
  while (reader->Read(&e)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(iss::testing::WaitFor([] { return world->hub->subscribers() == 0; }));
}

TEST_F(QueryServiceTest, TailDropsAClientThatDoesNotRead) {
  grpc::ClientContext ctx;
  auto reader = stub().Tail(&ctx, v1::TailRequest());
  reader->WaitForInitialMetadata();
  ASSERT_TRUE(iss::testing::WaitFor([] { return world->hub->subscribers() == 1; }));
  // Big events fill gRPC's flow-control window, then the 50-event buffer.
  auto big = std::make_shared<TelemetryEvent>(MakeEvent("A", kT0, std::string(4000, '7')));
  const uint64_t before = world->hub->dropped();
  ASSERT_TRUE(iss::testing::WaitFor(
      [&] {
        world->hub->Publish(std::vector<EventPtr>(20, big));
        return world->hub->dropped() > before;
      },
      absl::Seconds(20)));
  TelemetryEvent e;
  while (reader->Read(&e)) {
  }
  const grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
}

TEST_F(QueryServiceTest, TailRejectsInvalidItemIds) {
  v1::TailRequest req;
  req.add_item_ids("");
  grpc::ClientContext ctx;
  auto reader = stub().Tail(&ctx, req);
  TelemetryEvent e;
  while (reader->Read(&e)) {
  }
  ExpectInvalid(reader->Finish(), "item_ids");
}

TEST_F(QueryServiceTest, GetSinkStatusReportsOffsetsStoredWithTheRows) {
  grpc::ClientContext ctx;
  v1::SinkStatus status;
  ASSERT_TRUE(stub().GetSinkStatus(&ctx, v1::GetSinkStatusRequest(), &status).ok());
  EXPECT_EQ(status.consumer_group(), "g");
  EXPECT_TRUE(status.database_reachable());
  ASSERT_EQ(status.partitions_size(), 1);
  EXPECT_EQ(status.partitions(0).partition(), 2);
  EXPECT_EQ(status.partitions(0).next_offset(), 60);
}

}  // namespace
}  // namespace iss::storage
