// Fuzzes the page-token decoders of storage (QueryWindow, ListItems) and
// Pee-Bot (ListDetections). The input is the token's text before base64, with
// "{h}" standing for the query's hash (so mutations keep reaching the field
// checks); it is decoded both as that text's token and as a raw token.
// Properties: a decoder accepts a token only when its encoder writes exactly
// that token back, and only a cursor the query could have produced (inside the
// window, one of the query's items, a 64-hex id, UTF-8 text item id); every
// refusal is INVALID_ARGUMENT naming page_token.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_replace.h"
#include "common/event_id.h"
#include "common/utf8.h"
#include "services/peebot/store.h"
#include "services/storage/query_request.h"

namespace {

namespace v1 = iss::storage::v1;

void CheckRefusal(const absl::Status& s) {
  if (s.code() != absl::StatusCode::kInvalidArgument) __builtin_trap();
  if (s.message().substr(0, 11) != "page_token:") __builtin_trap();
}

void Window(const std::string& text, const std::string& raw, v1::Order order) {
  v1::QueryWindowRequest r;
  r.add_item_ids("S0000004");
  r.add_item_ids("NODE3000005");
  r.mutable_start_time()->set_seconds(1795000000);
  r.mutable_end_time()->set_seconds(1795003600);
  r.set_order(order);
  const iss::storage::QueryLimits limits;
  auto q = iss::storage::ParseWindowQuery(r, limits);
  if (!q.ok()) __builtin_trap();
  const std::string hashed = absl::StrReplaceAll(text, {{"{h}", q->query_hash}});
  for (const std::string& token : {absl::WebSafeBase64Escape(hashed), raw}) {
    if (token.empty()) continue;
    r.set_page_token(token);
    auto p = iss::storage::ParseWindowQuery(r, limits);
    if (!p.ok()) {
      CheckRefusal(p.status());
      continue;
    }
    const auto& c = *p->after;
    if (iss::storage::EncodeWindowToken(c, q->query_hash) != token) __builtin_trap();
    if (c.source_us < q->start_us || c.source_us >= q->end_us) __builtin_trap();
    if (c.item_id != "S0000004" && c.item_id != "NODE3000005") __builtin_trap();
    if (!iss::IsSha256Hex(c.event_id)) __builtin_trap();
  }
}

void Items(const std::string& text, const std::string& raw) {
  v1::ListItemsRequest r;
  const iss::storage::QueryLimits limits;
  auto q = iss::storage::ParseItemsQuery(r, limits);
  if (!q.ok()) __builtin_trap();
  const std::string hashed = absl::StrReplaceAll(text, {{"{h}", q->query_hash}});
  for (const std::string& token : {absl::WebSafeBase64Escape(hashed), raw}) {
    if (token.empty()) continue;
    r.set_page_token(token);
    auto p = iss::storage::ParseItemsQuery(r, limits);
    if (!p.ok()) {
      CheckRefusal(p.status());
      continue;
    }
    const std::string& id = *p->after_item_id;
    if (iss::storage::EncodeItemsToken(id, q->query_hash) != token) __builtin_trap();
    if (id.empty() || id.size() > limits.max_item_id || !iss::IsValidUtf8(id)) __builtin_trap();
    if (id.find('\0') != std::string::npos) __builtin_trap();
  }
}

void Detections(const std::string& text, const std::string& raw) {
  constexpr int64_t kStart = 1795000000000000, kEnd = kStart + 3600000000;
  for (const std::string& token : {absl::WebSafeBase64Escape(text), raw}) {
    if (token.empty()) continue;
    auto c = iss::peebot::DecodeDetectionsToken(token, kStart, kEnd);
    if (!c.ok()) {
      CheckRefusal(c.status());
      continue;
    }
    if (iss::peebot::EncodeDetectionsToken(*c) != token) __builtin_trap();
    if (c->start_us < kStart || c->start_us >= kEnd) __builtin_trap();
    if (!iss::IsSha256Hex(c->detection_id)) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  Window(input, input, v1::ORDER_ASC);
  Window(input, input, v1::ORDER_DESC);
  Items(input, input);
  Detections(input, input);
  return 0;
}
