#include "common/catalog.h"

#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace iss {

extern const std::string_view kEmbeddedCatalogCsv;  // generated from data/isslive-items.csv
extern const std::string_view kEmbeddedEnumsCsv;    // generated from data/isslive-enums.csv

namespace {

// Splits RFC 4180 CSV into records. Quoted fields may hold commas, quotes ("")
// and newlines. Returns the line number of a malformed record in the error.
absl::StatusOr<std::vector<std::vector<std::string>>> ParseCsv(std::string_view csv) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool in_quotes = false, field_started = false;
  int line = 1;
  for (size_t i = 0; i < csv.size(); ++i) {
    const char c = csv[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < csv.size() && csv[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      continue;
    }
    switch (c) {
      case '"':
        if (field_started) {
          return absl::InvalidArgumentError(
              absl::StrCat("catalog line ", line, ": quote inside an unquoted field"));
        }
        in_quotes = field_started = true;
        break;
      case ',':
        row.push_back(std::move(field));
        field.clear();
        field_started = false;
        break;
      case '\r':
        break;
      case '\n':
        row.push_back(std::move(field));
        field.clear();
        field_started = false;
        rows.push_back(std::move(row));
        row.clear();
        ++line;
        break;
      default:
        field.push_back(c);
        field_started = true;
    }
  }
  if (in_quotes) {
    return absl::InvalidArgumentError(absl::StrCat("catalog line ", line, ": unterminated quote"));
  }
  if (field_started || !row.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

absl::StatusOr<Catalog> Catalog::Parse(std::string_view csv) {
  auto rows = ParseCsv(csv);
  if (!rows.ok()) return rows.status();
  static const std::vector<std::string> kHeader = {"item_id", "discipline", "ops_name",
                                                   "units",   "name",       "description"};
  if (rows->empty() || (*rows)[0] != kHeader) {
    return absl::InvalidArgumentError(
        "catalog line 1: expected header item_id,discipline,ops_name,units,name,description");
  }
  Catalog catalog;
  for (size_t i = 1; i < rows->size(); ++i) {
    auto& r = (*rows)[i];
    if (r.size() == 1 && r[0].empty()) continue;  // blank line
    if (r.size() != kHeader.size()) {
      return absl::InvalidArgumentError(absl::StrCat("catalog record ", i + 1, ": expected ",
                                                     kHeader.size(), " fields, got ", r.size()));
    }
    if (r[0].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("catalog record ", i + 1, ": empty item_id"));
    }
    if (catalog.index_.contains(r[0])) {
      return absl::InvalidArgumentError(
          absl::StrCat("catalog record ", i + 1, ": duplicate item_id ", r[0]));
    }
    catalog.index_[r[0]] = catalog.items_.size();
    catalog.items_.push_back(CatalogItem{std::move(r[0]),
                                         std::move(r[1]),
                                         std::move(r[2]),
                                         std::move(r[3]),
                                         std::move(r[4]),
                                         std::move(r[5]),
                                         {}});
  }
  return catalog;
}

namespace {

// `text` as a canonical integer ("-3", "32"), if it is one, or a decimal
// whose fraction is zero ("32.000"); nullopt otherwise.
std::optional<std::string> CanonicalInteger(std::string_view text) {
  int64_t n;
  if (absl::SimpleAtoi(AsAbsl(text), &n)) return absl::StrCat(n);
  double d;
  if (!absl::SimpleAtod(AsAbsl(text), &d) || !std::isfinite(d) || d != std::trunc(d) ||
      std::fabs(d) > 9e15) {
    return std::nullopt;
  }
  return absl::StrCat(static_cast<int64_t>(d));
}

}  // namespace

absl::Status Catalog::AddValueLabels(std::string_view csv) {
  auto rows = ParseCsv(csv);
  if (!rows.ok()) return rows.status();
  static const std::vector<std::string> kHeader = {"item_id", "value", "label"};
  if (rows->empty() || (*rows)[0] != kHeader) {
    return absl::InvalidArgumentError("value labels line 1: expected header item_id,value,label");
  }
  for (size_t i = 1; i < rows->size(); ++i) {
    auto& r = (*rows)[i];
    if (r.size() == 1 && r[0].empty()) continue;  // blank line
    const auto fail = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("value labels record ", i + 1, ": ", why));
    };
    if (r.size() != kHeader.size()) return fail(absl::StrCat("expected 3 fields, got ", r.size()));
    auto it = index_.find(r[0]);
    if (it == index_.end()) return fail(absl::StrCat("item ", r[0], " is not in the catalog"));
    int64_t n;
    if (!absl::SimpleAtoi(r[1], &n) || absl::StrCat(n) != r[1]) {
      return fail(absl::StrCat("value \"", r[1], "\" is not an integer"));
    }
    if (r[2].empty()) return fail("empty label");
    std::vector<ValueLabel>& labels = items_[it->second].value_labels;
    for (const ValueLabel& l : labels) {
      if (l.value == r[1]) return fail(absl::StrCat("duplicate value ", r[1], " for ", r[0]));
    }
    labels.push_back(ValueLabel{std::move(r[1]), std::move(r[2])});
  }
  return absl::OkStatus();
}

const std::string* Catalog::LabelOf(std::string_view item_id, std::string_view value) const {
  const CatalogItem* item = Find(item_id);
  if (item == nullptr || item->value_labels.empty()) return nullptr;
  for (const ValueLabel& l : item->value_labels) {
    if (l.value == value) return &l.label;  // the feed's usual spelling: no parsing
  }
  const std::optional<std::string> canonical = CanonicalInteger(value);
  if (!canonical || *canonical == value) return nullptr;
  for (const ValueLabel& l : item->value_labels) {
    if (l.value == *canonical) return &l.label;
  }
  return nullptr;
}

absl::StatusOr<Catalog> Catalog::LoadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open catalog file ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return Parse(ss.str());
}

const Catalog& Catalog::Embedded() {
  static const Catalog* catalog = [] {
    auto parsed = Parse(kEmbeddedCatalogCsv);
    // The embedded files are checked by catalog_test; failing here is a build defect.
    if (!parsed.ok() || !parsed->AddValueLabels(kEmbeddedEnumsCsv).ok()) std::abort();
    return new Catalog(*std::move(parsed));
  }();
  return *catalog;
}

const CatalogItem* Catalog::Find(std::string_view item_id) const {
  auto it = index_.find(AsAbsl(item_id));
  return it == index_.end() ? nullptr : &items_[it->second];
}

}  // namespace iss
