#include "services/storage/query_request.h"

#include <cstdint>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"
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

// Page tokens are opaque to clients but not secret: the query hash is a
// SHA-256 anyone can compute. So a hand-made token with the right hash must
// still be refused unless the server could have produced it for this query.
std::string Raw(std::string_view text) { return absl::WebSafeBase64Escape(AsAbsl(text)); }

class HandMadeWindowToken : public ::testing::TestWithParam<v1::Order> {};

TEST_P(HandMadeWindowToken, IsRefused) {
  auto r = Window(1000, 2000);
  r.add_item_ids("S0000004");
  r.set_order(GetParam());
  auto q = ParseWindowQuery(r, {});
  ASSERT_TRUE(q.ok());
  const std::string h = q->query_hash;
  const std::string ev(64, 'a');
  auto refused = [&](const std::string& token) {
    SCOPED_TRACE(token);
    ASSERT_FALSE(token.empty());
    auto req = r;
    req.set_page_token(token);
    ExpectInvalid(ParseWindowQuery(req, {}).status(), "page_token");
  };
  auto text = [&](std::string_view us, std::string_view event, std::string_view item) {
    return Raw(
        absl::StrCat("w1|", AsAbsl(h), "|", AsAbsl(us), "|", AsAbsl(event), "|", AsAbsl(item)));
  };
  // The probe's overflow: source_us + 1 at INT64_MAX, and the other extremes.
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  for (int64_t us : {kMax, kMin, int64_t{-1}, int64_t{0}, int64_t{999'999'999},
                     int64_t{2'000'000'000}, int64_t{253402300800'000'000}}) {
    refused(text(absl::StrCat(us), ev, "NODE3000005"));
  }
  // Numbers in any spelling but the server's.
  for (const char* us : {"+1500000000", "01500000000", " 1500000000", "1500000000 ", "1.5e9",
                         "0x59682F00", "", "99999999999999999999"}) {
    refused(text(us, ev, "NODE3000005"));
  }
  // Event ids: exactly 64 lower-case hex digits.
  for (const std::string& e :
       {std::string(), std::string(63, 'a'), std::string(65, 'a'), std::string(64, 'A'),
        std::string(64, 'g'), std::string(64, '\xff'), std::string(63, 'a') + '\0',
        std::string("\xc0\x80") + std::string(62, 'a')}) {
    refused(text("1500000000", e, "NODE3000005"));
  }
  // Item ids: one of the query's own (the row came from that list).
  for (const std::string& item :
       {std::string(), std::string("USLAB000086"), std::string("NODE3000005\0", 12),
        std::string("\xff"), std::string("NODE3000005|x"), std::string("node3000005"),
        std::string("\xed\xa0\x80"), std::string(5000, 'A')}) {
    refused(text("1500000000", ev, item));
  }
  // Wrong tag, missing and extra fields.
  refused(Raw(absl::StrCat("w2|", AsAbsl(h), "|1500000000|", AsAbsl(ev), "|NODE3000005")));
  refused(Raw(absl::StrCat("w1|", AsAbsl(h), "|1500000000|", AsAbsl(ev))));
  refused(Raw(absl::StrCat("w1|", AsAbsl(h), "|1500000000")));
  refused(Raw(absl::StrCat("w1|", AsAbsl(h))));
  refused(Raw("\xff\xfe"));
  // The accepted token, written any way but the server's: padding, the other
  // base64 alphabet, trailing bits, whitespace.
  const std::string good = text("1500000000", ev, "NODE3000005");
  auto ok = r;
  ok.set_page_token(good);
  ASSERT_TRUE(ParseWindowQuery(ok, {}).ok()) << ParseWindowQuery(ok, {}).status();
  std::string std_alphabet;
  absl::Base64Escape(absl::WebSafeBase64Unescape(good, &std_alphabet) ? std_alphabet : "",
                     &std_alphabet);
  for (const std::string& t : {good + "=", good + "==", good + " ", " " + good, good + "\n",
                               good + "A", good.substr(0, good.size() - 1)}) {
    refused(t);
  }
  if (std_alphabet != good) refused(std_alphabet);
  // Changing only the unused low bits of the last character decodes to the
  // same bytes; the server never writes it so.
  ASSERT_NE(good.size() % 4, 0u);
  std::string bits = good;
  bits.back() = bits.back() == 'A' ? 'B' : static_cast<char>(bits.back() + 1);
  std::string same;
  if (absl::WebSafeBase64Unescape(bits, &same) && absl::WebSafeBase64Escape(same) != bits) {
    refused(bits);
  }
  // Longer than any token the server writes.
  refused(std::string(600, 'A'));
}

INSTANTIATE_TEST_SUITE_P(BothOrders, HandMadeWindowToken,
                         ::testing::Values(v1::ORDER_ASC, v1::ORDER_DESC));

TEST(PageToken, ServerTokensAtTheWindowEdgesAreAccepted) {
  auto r = Window(1000, 2000);
  auto q = ParseWindowQuery(r, {});
  ASSERT_TRUE(q.ok());
  for (int64_t us : {q->start_us, q->end_us - 1}) {
    for (auto order : {v1::ORDER_ASC, v1::ORDER_DESC}) {
      auto req = r;
      req.set_order(order);
      auto qq = ParseWindowQuery(req, {});
      ASSERT_TRUE(qq.ok());
      req.set_page_token(
          EncodeWindowToken(WindowCursor{us, "NODE3000005", std::string(64, 'f')}, qq->query_hash));
      auto next = ParseWindowQuery(req, {});
      ASSERT_TRUE(next.ok()) << next.status();
      EXPECT_EQ(next->after->source_us, us);
      EXPECT_EQ(next->after->event_id, std::string(64, 'f'));
    }
  }
}

TEST(PageToken, HandMadeItemsTokensAreRefused) {
  v1::ListItemsRequest r;
  auto q = ParseItemsQuery(r, {});
  ASSERT_TRUE(q.ok());
  auto refused = [&](const std::string& token) {
    SCOPED_TRACE(token);
    auto req = r;
    req.set_page_token(token);
    ExpectInvalid(ParseItemsQuery(req, {}).status(), "page_token");
  };
  // The probe's token: this query's hash, then a lone 0xFF byte
  // (PostgreSQL: SQLSTATE 22021, invalid byte sequence for UTF8).
  refused("aTF8ZDBhMzYzNmM0MjMxZDQ3Znz_");
  auto text = [&](std::string_view item) {
    return Raw(absl::StrCat("i1|", AsAbsl(q->query_hash), "|", AsAbsl(item)));
  };
  for (const std::string& item :
       {std::string(), std::string("\xff"), std::string("A\xc3"), std::string("\xc0\x80"),
        std::string("\xed\xa0\x80"), std::string("\xf4\x90\x80\x80"), std::string("A\0B", 3),
        std::string(65, 'A'), std::string("A\nB"), std::string("A\x7f")}) {
    refused(text(item));
  }
  const std::string good = text("NODE3000005");
  auto ok = r;
  ok.set_page_token(good);
  auto next = ParseItemsQuery(ok, {});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->after_item_id, "NODE3000005");
  refused(good + "=");
  refused(good + "==");
  refused(std::string(600, 'A'));
  // Any UTF-8 text id a catalog may hold still pages.
  ok.set_page_token(text("W\xc3\xa4rme-1.2_x"));
  EXPECT_TRUE(ParseItemsQuery(ok, {}).ok());
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
