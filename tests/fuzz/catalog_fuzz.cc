// Fuzzes the catalog CSV parser (RFC 4180 quoting, record shape checks).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/catalog.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = iss::Catalog::Parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (parsed.ok()) {
    // Every parsed item must be findable by its id.
    for (const auto& item : parsed->items()) {
      if (parsed->Find(item.item_id) != &item) __builtin_trap();
    }
  }
  return 0;
}
