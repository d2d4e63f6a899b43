// Fuzzes the ISSLIVE TimeStamp parser: any text gives a time within a year of
// the receive time, or an error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/isslive_time.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::Time now = absl::FromUnixSeconds(1795000000);  // fixed: reproducible
  auto t = iss::ParseIssTimestamp(std::string_view(reinterpret_cast<const char*>(data), size), now);
  if (t.ok() && absl::AbsDuration(*t - now) > absl::Hours(24 * 370)) __builtin_trap();
  return 0;
}
