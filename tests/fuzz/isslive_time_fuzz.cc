// Fuzzes the ISSLIVE TimeStamp parser: any text gives a time within a year of
// the receive time, or an error; and the number it reads is absl::SimpleAtod's
// (same texts accepted, same double), fast path or not.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "common/isslive_time.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::Time now = absl::FromUnixSeconds(1795000000);  // fixed: reproducible
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto t = iss::ParseIssTimestamp(text, now);
  if (t.ok() && absl::AbsDuration(*t - now) > absl::Hours(24 * 370)) __builtin_trap();
  double ours = 0, reference = 0;
  const absl::string_view trimmed =
      absl::StripAsciiWhitespace(absl::string_view(text.data(), size));
  const bool want = !trimmed.empty() && absl::SimpleAtod(trimmed, &reference);
  if (iss::ParseIssHours(text, &ours) != want) __builtin_trap();
  if (want && !std::isnan(reference) && std::memcmp(&ours, &reference, sizeof(double)) != 0) {
    __builtin_trap();
  }
  return 0;
}
