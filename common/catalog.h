// Owns: the ISS item catalog shipped with the platform (data/isslive-items.csv,
// the 337 ids the live feed is known to serve, with the value labels of the
// enumerated ones from data/isslive-enums.csv; both compiled into the binary).
// Ids outside the catalog are still valid telemetry: callers count them.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace iss {

// What one raw value of an enumerated item means, e.g. NODE3000004 32 = STANDBY.
struct ValueLabel {
  std::string value;  // as the feed sends it: an integer
  std::string label;
};

struct CatalogItem {
  std::string item_id;
  std::string discipline;
  std::string ops_name;
  std::string units;
  std::string name;
  std::string description;
  std::vector<ValueLabel> value_labels;  // empty unless the item is enumerated
};

class Catalog {
 public:
  // The catalog compiled into the binary.
  static const Catalog& Embedded();
  // Parses CSV with the header item_id,discipline,ops_name,units,name,description
  // (RFC 4180 quoting). INVALID_ARGUMENT names the line of the first error.
  static absl::StatusOr<Catalog> Parse(std::string_view csv);
  static absl::StatusOr<Catalog> LoadFile(const std::string& path);
  // Adds value labels from CSV with the header item_id,value,label. Every id
  // must be in the catalog, every value an integer, each (id, value) once.
  absl::Status AddValueLabels(std::string_view csv);

  const std::vector<CatalogItem>& items() const { return items_; }
  const CatalogItem* Find(std::string_view item_id) const;
  bool Contains(std::string_view item_id) const { return Find(item_id) != nullptr; }
  // The label of `value` for `item_id`, or nullptr. A value written as a
  // decimal with a zero fraction ("32.0") is the integer it equals.
  const std::string* LabelOf(std::string_view item_id, std::string_view value) const;
  size_t size() const { return items_.size(); }

 private:
  std::vector<CatalogItem> items_;
  absl::flat_hash_map<std::string, size_t> index_;
};

// Well-known ids used across services.
inline constexpr std::string_view kUrineTankItem = "NODE3000005";
inline constexpr std::string_view kUrineProcessorItem = "NODE3000004";
inline constexpr std::string_view kTimeItem = "TIME_000001";

// The ISSLIVE fields every item is subscribed with, in schema order (the
// ingestion client asks for them; the simulator serves them).
inline constexpr const char* kIssliveFields[] = {
    "Value", "TimeStamp", "Status.Class", "Status.Indicator", "Status.Color", "CalibratedData"};

}  // namespace iss
