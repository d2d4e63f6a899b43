// Owns: the ISS item catalog shipped with the platform (data/isslive-items.csv,
// compiled into the binary; ISS_CATALOG_PATH may point at another file).
// Ids outside the catalog are still valid telemetry: callers count them.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace iss {

struct CatalogItem {
  std::string item_id;
  std::string discipline;
  std::string ops_name;
  std::string units;
  std::string name;
  std::string description;
};

class Catalog {
 public:
  // The catalog compiled into the binary.
  static const Catalog& Embedded();
  // Parses CSV with the header item_id,discipline,ops_name,units,name,description
  // (RFC 4180 quoting). INVALID_ARGUMENT names the line of the first error.
  static absl::StatusOr<Catalog> Parse(std::string_view csv);
  static absl::StatusOr<Catalog> LoadFile(const std::string& path);

  const std::vector<CatalogItem>& items() const { return items_; }
  const CatalogItem* Find(std::string_view item_id) const;
  bool Contains(std::string_view item_id) const { return Find(item_id) != nullptr; }
  size_t size() const { return items_.size(); }

 private:
  std::vector<CatalogItem> items_;
  absl::flat_hash_map<std::string, size_t> index_;
};

// Well-known ids used across services.
inline constexpr std::string_view kUrineTankItem = "NODE3000005";
inline constexpr std::string_view kUrineProcessorItem = "NODE3000004";
inline constexpr std::string_view kTimeItem = "TIME_000001";

}  // namespace iss
