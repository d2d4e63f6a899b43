// Owns: validating query requests and the opaque page tokens, before any SQL
// runs. Every rejection is INVALID_ARGUMENT whose message starts with the
// offending field's name ("end_time: ...", "page_token: ...").
//
// A page token is web-safe base64 of a short text: a version tag, a hash of
// the query it belongs to (everything but page_size and page_token) and the
// key of the last row returned. A token from another query does not match the
// hash and is rejected; tokens carry no SQL.
//
// Tokens are opaque but not secret (the hash is a plain SHA-256 anyone can
// compute), and not signed: a key would have to be shared by every storage
// replica and survive restarts. Instead decoding is strict: a token is
// accepted only if it is exactly what the encoder writes for a cursor this
// query could have returned (a row inside its window, of one of its items,
// with a well-formed event id). Anything else is INVALID_ARGUMENT before any
// SQL or arithmetic sees it; a hand-made token that passes can only move the
// start of a page inside data the caller may read anyway.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "iss/storage/v1/storage.pb.h"

namespace iss::storage {

struct QueryLimits {
  absl::Duration max_window = absl::Hours(24 * 31);
  int max_items = 100;
  int default_page_size = 1000;
  int max_page_size = 10000;
  int default_items_page = 500;
  int max_items_page = 1000;
  int max_buckets = 10000;
  size_t max_item_id = 64;
  // Rows per Replay page: one short query each, the connection released
  // before the page is written to the client.
  int replay_page_rows = 2000;
  // How long a Replay page waits for a replay slot before RESOURCE_EXHAUSTED.
  absl::Duration replay_slot_wait = absl::Seconds(5);
};

// Position after the last row of a window page: (source_ts, item_id, event_id).
struct WindowCursor {
  int64_t source_us = 0;
  std::string item_id;
  std::string event_id;
};

struct WindowQuery {
  std::vector<std::string> item_ids;  // sorted, unique
  int64_t start_us = 0;
  int64_t end_us = 0;
  int page_size = 0;
  bool descending = false;
  std::optional<double> min_value;
  std::optional<double> max_value;
  std::optional<WindowCursor> after;
  std::string query_hash;
};

struct SeriesQuery {
  std::string item_id;
  int64_t start_us = 0;
  int64_t end_us = 0;
  int64_t bucket_us = 0;
};

struct ItemsQuery {
  std::string search;
  std::string discipline;
  int page_size = 0;
  std::optional<std::string> after_item_id;
  std::string query_hash;
};

struct ReplayQuery {
  std::vector<std::string> item_ids;  // empty = all
  int64_t start_us = 0;
  int64_t end_us = 0;
};

absl::StatusOr<WindowQuery> ParseWindowQuery(const iss::storage::v1::QueryWindowRequest& req,
                                             const QueryLimits& limits);
absl::StatusOr<SeriesQuery> ParseSeriesQuery(const iss::storage::v1::GetSeriesRequest& req,
                                             const QueryLimits& limits);
absl::StatusOr<ItemsQuery> ParseItemsQuery(const iss::storage::v1::ListItemsRequest& req,
                                           const QueryLimits& limits);
// Replay windows are not capped by max_window: they exist to stream history.
absl::StatusOr<ReplayQuery> ParseReplayQuery(const iss::storage::v1::ReplayRequest& req,
                                             const QueryLimits& limits);
// Validates an id list (`field` names it in errors); returns it sorted, unique.
absl::StatusOr<std::vector<std::string>> ParseItemIds(
    const google::protobuf::RepeatedPtrField<std::string>& ids, const std::string& field,
    const QueryLimits& limits, bool allow_empty);

std::string EncodeWindowToken(const WindowCursor& cursor, const std::string& query_hash);
// `q` is the query being parsed: its window, item ids and hash bound the cursor.
absl::StatusOr<WindowCursor> DecodeWindowToken(const std::string& token, const WindowQuery& q);
std::string EncodeItemsToken(const std::string& last_item_id, const std::string& query_hash);
absl::StatusOr<std::string> DecodeItemsToken(const std::string& token,
                                             const std::string& query_hash,
                                             const QueryLimits& limits);

}  // namespace iss::storage
