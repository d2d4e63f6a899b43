#include "services/storage/query_request.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/event_id.h"
#include "common/grpc_util.h"
#include "common/utf8.h"
#include "services/storage/decoder.h"

namespace iss::storage {
namespace {

namespace v1 = iss::storage::v1;

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// 9999-12-31T23:59:59Z: the last second RFC 3339 and IsRfc3339Timestamp allow.
constexpr int64_t kMaxSeconds = 253402300799;

absl::StatusOr<int64_t> RequiredTime(bool present, const google::protobuf::Timestamp& ts,
                                     absl::string_view field) {
  if (!present) return Invalid(field, "required");
  if (!IsRfc3339Timestamp(ts)) return Invalid(field, "out of range");
  return TimestampMicros(ts);
}

struct Window {
  int64_t start_us, end_us;
};

absl::StatusOr<Window> ParseWindow(bool has_start, const google::protobuf::Timestamp& start,
                                   bool has_end, const google::protobuf::Timestamp& end,
                                   std::optional<absl::Duration> cap) {
  auto s = RequiredTime(has_start, start, "start_time");
  if (!s.ok()) return s.status();
  auto e = RequiredTime(has_end, end, "end_time");
  if (!e.ok()) return e.status();
  if (*e <= *s) return Invalid("end_time", "must be after start_time");
  if (cap && *e - *s > absl::ToInt64Microseconds(*cap)) {
    return Invalid("end_time",
                   absl::StrCat("window longer than the cap of ", absl::FormatDuration(*cap)));
  }
  return Window{*s, *e};
}

absl::StatusOr<int> PageSize(int requested, int def, int max, absl::string_view field) {
  if (requested < 0) return Invalid(field, "must not be negative");
  if (requested > max) return Invalid(field, absl::StrCat("over the cap of ", max));
  return requested == 0 ? def : requested;
}

std::string HashOf(std::string_view canonical) { return Sha256Hex(canonical).substr(0, 16); }

// Longer than any token the server writes (the window token's item id is at
// most max_item_id bytes, the rest fixed-size), so nothing larger is decoded.
constexpr size_t kMaxTokenBytes = 512;

// Token text: tag|hash|fields...; the last field may contain anything. Only
// splits: each Decode* checks every field and then that its own encoder gives
// back exactly `token`, so every other spelling of the same cursor (padding,
// the other base64 alphabet, leading zeros, "+1") is refused too.
absl::StatusOr<std::vector<std::string>> OpenToken(const std::string& token, absl::string_view tag,
                                                   const std::string& hash, int fields) {
  std::string text;
  if (token.size() > kMaxTokenBytes || !absl::WebSafeBase64Unescape(token, &text)) {
    return Invalid("page_token", "malformed");
  }
  std::vector<std::string> parts = absl::StrSplit(text, absl::MaxSplits('|', fields + 1));
  if (parts.size() != static_cast<size_t>(fields + 2) || parts[0] != tag) {
    return Invalid("page_token", "malformed");
  }
  if (parts[1] != hash) return Invalid("page_token", "does not belong to this query");
  parts.erase(parts.begin(), parts.begin() + 2);
  return parts;
}

// An item id as the items table can hold it: 1..max bytes of UTF-8 text
// without control characters (PostgreSQL refuses invalid UTF-8 and NUL).
bool IsItemIdText(std::string_view id, size_t max) {
  if (id.empty() || id.size() > max || !IsValidUtf8(id)) return false;
  return std::none_of(id.begin(), id.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseItemIds(
    const google::protobuf::RepeatedPtrField<std::string>& ids, const std::string& field,
    const QueryLimits& limits, bool allow_empty) {
  if (ids.empty() && !allow_empty) return Invalid(field, "at least one item id is required");
  if (ids.size() > limits.max_items) {
    return Invalid(field, absl::StrCat("more than ", limits.max_items, " ids"));
  }
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (const std::string& id : ids) {
    if (id.empty() || id.size() > limits.max_item_id || id.find('\0') != std::string::npos) {
      return Invalid(field, "empty, too long or invalid item id");
    }
    out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

absl::StatusOr<WindowQuery> ParseWindowQuery(const v1::QueryWindowRequest& req,
                                             const QueryLimits& limits) {
  WindowQuery q;
  auto ids = ParseItemIds(req.item_ids(), "item_ids", limits, /*allow_empty=*/false);
  if (!ids.ok()) return ids.status();
  q.item_ids = *std::move(ids);
  auto w = ParseWindow(req.has_start_time(), req.start_time(), req.has_end_time(), req.end_time(),
                       limits.max_window);
  if (!w.ok()) return w.status();
  q.start_us = w->start_us;
  q.end_us = w->end_us;
  auto size =
      PageSize(req.page_size(), limits.default_page_size, limits.max_page_size, "page_size");
  if (!size.ok()) return size.status();
  q.page_size = *size;
  if (req.order() != v1::ORDER_UNSPECIFIED && req.order() != v1::ORDER_ASC &&
      req.order() != v1::ORDER_DESC) {
    return Invalid("order", "unknown value");
  }
  q.descending = req.order() == v1::ORDER_DESC;
  if (req.has_value_filter()) {
    const auto& f = req.value_filter();
    if (f.has_min()) {
      if (!std::isfinite(f.min())) return Invalid("value_filter.min", "must be finite");
      q.min_value = f.min();
    }
    if (f.has_max()) {
      if (!std::isfinite(f.max())) return Invalid("value_filter.max", "must be finite");
      q.max_value = f.max();
    }
    if (q.min_value && q.max_value && *q.min_value > *q.max_value) {
      return Invalid("value_filter.max", "must not be below value_filter.min");
    }
  }
  std::string canonical =
      absl::StrCat("window|", q.start_us, "|", q.end_us, "|", q.descending ? "desc" : "asc", "|");
  absl::StrAppend(&canonical, q.min_value ? absl::StrCat(*q.min_value) : "-", "|",
                  q.max_value ? absl::StrCat(*q.max_value) : "-");
  for (const auto& id : q.item_ids) absl::StrAppend(&canonical, "|", id);
  q.query_hash = HashOf(canonical);
  if (!req.page_token().empty()) {
    auto cursor = DecodeWindowToken(req.page_token(), q);
    if (!cursor.ok()) return cursor.status();
    q.after = *std::move(cursor);
  }
  return q;
}

absl::StatusOr<SeriesQuery> ParseSeriesQuery(const v1::GetSeriesRequest& req,
                                             const QueryLimits& limits) {
  SeriesQuery q;
  if (req.item_id().empty() || req.item_id().size() > limits.max_item_id ||
      req.item_id().find('\0') != std::string::npos) {
    return Invalid("item_id", "required, at most 64 bytes");
  }
  q.item_id = req.item_id();
  auto w = ParseWindow(req.has_start_time(), req.start_time(), req.has_end_time(), req.end_time(),
                       limits.max_window);
  if (!w.ok()) return w.status();
  q.start_us = w->start_us;
  q.end_us = w->end_us;
  if (!req.has_bucket()) return Invalid("bucket", "required");
  const auto& b = req.bucket();
  if (b.seconds() < 1 || b.nanos() < 0 || b.nanos() > 999'999'999 || b.seconds() > kMaxSeconds) {
    return Invalid("bucket", "must be at least 1s");
  }
  q.bucket_us = b.seconds() * 1'000'000 + b.nanos() / 1000;
  const int64_t buckets = (q.end_us - q.start_us + q.bucket_us - 1) / q.bucket_us;
  if (buckets > limits.max_buckets) {
    return Invalid("bucket", absl::StrCat("window / bucket is ", buckets,
                                          " buckets, over the cap of ", limits.max_buckets));
  }
  return q;
}

absl::StatusOr<ItemsQuery> ParseItemsQuery(const v1::ListItemsRequest& req,
                                           const QueryLimits& limits) {
  ItemsQuery q;
  if (req.search().size() > 200 || req.search().find('\0') != std::string::npos) {
    return Invalid("search", "at most 200 bytes");
  }
  if (req.discipline().size() > 100 || req.discipline().find('\0') != std::string::npos) {
    return Invalid("discipline", "at most 100 bytes");
  }
  q.search = req.search();
  q.discipline = req.discipline();
  auto size =
      PageSize(req.page_size(), limits.default_items_page, limits.max_items_page, "page_size");
  if (!size.ok()) return size.status();
  q.page_size = *size;
  q.query_hash = HashOf(absl::StrCat("items|", q.search.size(), "|", q.search, "|", q.discipline));
  if (!req.page_token().empty()) {
    auto after = DecodeItemsToken(req.page_token(), q.query_hash, limits);
    if (!after.ok()) return after.status();
    q.after_item_id = *std::move(after);
  }
  return q;
}

absl::StatusOr<ReplayQuery> ParseReplayQuery(const v1::ReplayRequest& req,
                                             const QueryLimits& limits) {
  ReplayQuery q;
  auto ids = ParseItemIds(req.item_ids(), "item_ids", limits, /*allow_empty=*/true);
  if (!ids.ok()) return ids.status();
  q.item_ids = *std::move(ids);
  auto w = ParseWindow(req.has_start_time(), req.start_time(), req.has_end_time(), req.end_time(),
                       std::nullopt);
  if (!w.ok()) return w.status();
  q.start_us = w->start_us;
  q.end_us = w->end_us;
  return q;
}

std::string EncodeWindowToken(const WindowCursor& c, const std::string& query_hash) {
  return absl::WebSafeBase64Escape(
      absl::StrCat("w1|", query_hash, "|", c.source_us, "|", c.event_id, "|", c.item_id));
}

absl::StatusOr<WindowCursor> DecodeWindowToken(const std::string& token, const WindowQuery& q) {
  auto parts = OpenToken(token, "w1", q.query_hash, 3);
  if (!parts.ok()) return parts.status();
  WindowCursor c;
  if (!absl::SimpleAtoi((*parts)[0], &c.source_us)) return Invalid("page_token", "malformed");
  c.event_id = std::move((*parts)[1]);
  c.item_id = std::move((*parts)[2]);
  // The cursor is a row the query returned: inside its window (so the
  // store's cursor + 1 cannot overflow), one of its items, a stored event id.
  if (c.source_us < q.start_us || c.source_us >= q.end_us) {
    return Invalid("page_token", "position outside the query's window");
  }
  if (!std::binary_search(q.item_ids.begin(), q.item_ids.end(), c.item_id)) {
    return Invalid("page_token", "item not in the query");
  }
  if (!IsSha256Hex(c.event_id)) return Invalid("page_token", "malformed event id");
  if (EncodeWindowToken(c, q.query_hash) != token) return Invalid("page_token", "malformed");
  return c;
}

std::string EncodeItemsToken(const std::string& last_item_id, const std::string& query_hash) {
  return absl::WebSafeBase64Escape(absl::StrCat("i1|", query_hash, "|", last_item_id));
}

absl::StatusOr<std::string> DecodeItemsToken(const std::string& token,
                                             const std::string& query_hash,
                                             const QueryLimits& limits) {
  auto parts = OpenToken(token, "i1", query_hash, 1);
  if (!parts.ok()) return parts.status();
  std::string after = std::move((*parts)[0]);
  if (!IsItemIdText(after, limits.max_item_id)) return Invalid("page_token", "malformed item id");
  if (EncodeItemsToken(after, query_hash) != token) return Invalid("page_token", "malformed");
  return after;
}

}  // namespace iss::storage
