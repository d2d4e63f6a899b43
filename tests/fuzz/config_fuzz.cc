// Fuzzes the environment-variable parsers: arbitrary text for every kind of
// variable must yield a value or a clear error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)iss::ParseDuration(text);
  iss::EnvConfig c("fuzz");
  c.Int("I", 1, -5, 5, "i");
  c.Double("D", 1.0, 0, 1, "d");
  c.Bool("B", false, "b");
  c.Duration("T", absl::Seconds(1), absl::ZeroDuration(), absl::Hours(1), "t");
  c.Address("A", "127.0.0.1:1", "a");
  c.Enum("E", "x", {"x", "y"}, "e");
  c.String("S", std::nullopt, "s", true);
  const absl::Status s = c.Load(iss::MapEnv(
      {{"I", text}, {"D", text}, {"B", text}, {"T", text}, {"A", text}, {"E", text}, {"S", text}}));
  // A secret must never be echoed back in an error.
  if (!s.ok() && text.size() > 8 &&
      std::string(s.message()).find("S=\"" + text) != std::string::npos) {
    __builtin_trap();
  }
  return 0;
}
