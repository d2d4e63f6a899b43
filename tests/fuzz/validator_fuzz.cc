// Fuzzes the ingestion validator: the input is split on '\n' into item id,
// Value, TimeStamp, Status.Class, .Indicator, .Color, CalibratedData (a field
// "#" = null). Property: an accepted update keeps the item id and value it was
// given and has a source time within a year of the receive time; a rejected
// one always has a reason code.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "services/ingestion/validator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> f = absl::StrSplit(input, '\n');
  f.resize(7);
  auto field = [&](size_t i) -> std::optional<std::string> {
    if (f[i] == "#") return std::nullopt;
    return f[i];
  };
  iss::ingest::RawUpdate u;
  u.item_id = f[0];
  u.value = field(1);
  u.timestamp = field(2);
  u.status_class = field(3);
  u.status_indicator = field(4);
  u.status_color = field(5);
  u.calibrated_data = field(6);
  u.received_at = absl::FromUnixSeconds(1795000000);  // fixed: reproducible
  u.raw = input;
  auto v = iss::ingest::Validate(u, u.received_at);
  if (!v.ok()) {
    if (iss::ingest::RejectReason(v.status()).empty()) __builtin_trap();
    return 0;
  }
  if (v->item_id != u.item_id) __builtin_trap();
  if (u.value.has_value() && v->value != u.value) __builtin_trap();
  if (absl::AbsDuration(v->source_ts - u.received_at) > absl::Hours(24 * 370)) __builtin_trap();
  return 0;
}
