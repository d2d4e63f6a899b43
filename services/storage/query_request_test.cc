#include "services/storage/query_request.h"

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace iss::storage {
namespace {

namespace v1 = iss::storage::v1;

v1::QueryWindowRequest Window(int64_t start_s, int64_t end_s) {
  v1::QueryWindowRequest r;
  r.add_item_ids("NODE3000005");
  r.mutable_start_time()->set_seconds(start_s);
  r.mutable_end_time()->set_seconds(end_s);
  return r;
}

void ExpectInvalid(const absl::Status& s, const std::string& field) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(s.message().substr(0, field.size() + 1), field + ":") << s;
}

TEST(ParseWindowQuery, DefaultsAndSortedUniqueIds) {
  auto r = Window(1000, 2000);
  r.add_item_ids("AAA");
  r.add_item_ids("NODE3000005");
  auto q = ParseWindowQuery(r, {});
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->item_ids, (std::vector<std::string>{"AAA", "NODE3000005"}));
  EXPECT_EQ(q->page_size, 1000);
  EXPECT_EQ(q->start_us, 1000000000);
  EXPECT_FALSE(q->descending);
}

TEST(ParseWindowQuery, NamesTheBadField) {
  QueryLimits limits;
  limits.max_window = absl::Hours(1);
  ExpectInvalid(ParseWindowQuery(Window(2000, 1000), limits).status(), "end_time");
  ExpectInvalid(ParseWindowQuery(Window(1000, 1000), limits).status(), "end_time");
  ExpectInvalid(ParseWindowQuery(Window(0, 3601), limits).status(), "end_time");
  auto no_start = Window(1000, 2000);
  no_start.clear_start_time();
  ExpectInvalid(ParseWindowQuery(no_start, limits).status(), "start_time");
  auto no_items = Window(1000, 2000);
  no_items.clear_item_ids();
  ExpectInvalid(ParseWindowQuery(no_items, limits).status(), "item_ids");
  auto too_many = Window(1000, 2000);
  for (int i = 0; i < 101; ++i) too_many.add_item_ids("I" + std::to_string(i));
  ExpectInvalid(ParseWindowQuery(too_many, limits).status(), "item_ids");
  auto big_page = Window(1000, 2000);
  big_page.set_page_size(10001);
  ExpectInvalid(ParseWindowQuery(big_page, limits).status(), "page_size");
  big_page.set_page_size(-1);
  ExpectInvalid(ParseWindowQuery(big_page, limits).status(), "page_size");
  auto filter = Window(1000, 2000);
  filter.mutable_value_filter()->set_min(5);
  filter.mutable_value_filter()->set_max(1);
  ExpectInvalid(ParseWindowQuery(filter, limits).status(), "value_filter.max");
  auto garbage = Window(1000, 2000);
  garbage.set_page_token("!!!not base64!!!");
  ExpectInvalid(ParseWindowQuery(garbage, limits).status(), "page_token");
}

TEST(PageToken, RoundTripsAndIsBoundToItsQuery) {
  auto r = Window(1000, 2000);
  auto q = ParseWindowQuery(r, {});
  ASSERT_TRUE(q.ok());
  const std::string token = EncodeWindowToken(
      WindowCursor{1500000000, "NODE3000005", std::string(64, 'a')}, q->query_hash);
  r.set_page_token(token);
  auto next = ParseWindowQuery(r, {});
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(next->after.has_value());
  EXPECT_EQ(next->after->source_us, 1500000000);
  EXPECT_EQ(next->after->item_id, "NODE3000005");
  // page_size may change between pages of one query.
  r.set_page_size(5);
  EXPECT_TRUE(ParseWindowQuery(r, {}).ok());
  // Anything else is another query: its tokens are refused.
  auto other = Window(1000, 2001);
  other.set_page_token(token);
  ExpectInvalid(ParseWindowQuery(other, {}).status(), "page_token");
  auto other_order = Window(1000, 2000);
  other_order.set_order(v1::ORDER_DESC);
  other_order.set_page_token(token);
  ExpectInvalid(ParseWindowQuery(other_order, {}).status(), "page_token");
  // An items token is not a window token.
  auto wrong_kind = Window(1000, 2000);
  wrong_kind.set_page_token(EncodeItemsToken("X", q->query_hash));
  ExpectInvalid(ParseWindowQuery(wrong_kind, {}).status(), "page_token");
}

TEST(ParseSeriesQuery, BucketRules) {
  v1::GetSeriesRequest r;
  r.set_item_id("NODE3000005");
  r.mutable_start_time()->set_seconds(0);
  r.mutable_end_time()->set_seconds(3600);
  ExpectInvalid(ParseSeriesQuery(r, {}).status(), "bucket");
  r.mutable_bucket()->set_nanos(500000000);
  ExpectInvalid(ParseSeriesQuery(r, {}).status(), "bucket");
  r.mutable_bucket()->set_seconds(60);
  r.mutable_bucket()->set_nanos(0);
  auto q = ParseSeriesQuery(r, {});
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->bucket_us, 60000000);
  r.mutable_end_time()->set_seconds(10001);  // 10001 one-second buckets
  r.mutable_bucket()->set_seconds(1);
  ExpectInvalid(ParseSeriesQuery(r, {}).status(), "bucket");
  r.clear_item_id();
  ExpectInvalid(ParseSeriesQuery(r, {}).status(), "item_id");
}

TEST(ParseItemsQuery, PageSizeAndTokens) {
  v1::ListItemsRequest r;
  auto q = ParseItemsQuery(r, {});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->page_size, 500);
  r.set_page_size(1001);
  ExpectInvalid(ParseItemsQuery(r, {}).status(), "page_size");
  r.set_page_size(10);
  r.set_search("tank");
  auto tank = ParseItemsQuery(r, {});
  ASSERT_TRUE(tank.ok());
  r.set_page_token(EncodeItemsToken("NODE3000005", tank->query_hash));
  auto next = ParseItemsQuery(r, {});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->after_item_id, "NODE3000005");
  r.set_search("water");
  ExpectInvalid(ParseItemsQuery(r, {}).status(), "page_token");
}

TEST(ParseReplayQuery, NoCapButOrderedWindow) {
  v1::ReplayRequest r;
  r.mutable_start_time()->set_seconds(0);
  r.mutable_end_time()->set_seconds(400LL * 86400);  // longer than any query cap
  EXPECT_TRUE(ParseReplayQuery(r, {}).ok());
  r.mutable_end_time()->set_seconds(0);
  ExpectInvalid(ParseReplayQuery(r, {}).status(), "end_time");
}

}  // namespace
}  // namespace iss::storage
