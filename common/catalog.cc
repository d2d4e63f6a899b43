#include "common/catalog.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace iss {

extern const std::string_view kEmbeddedCatalogCsv;  // generated from data/isslive-items.csv

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
    catalog.items_.push_back(CatalogItem{std::move(r[0]), std::move(r[1]), std::move(r[2]),
                                         std::move(r[3]), std::move(r[4]), std::move(r[5])});
  }
  return catalog;
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
    // The embedded file is checked by catalog_test; failing here is a build defect.
    if (!parsed.ok()) std::abort();
    return new Catalog(*std::move(parsed));
  }();
  return *catalog;
}

const CatalogItem* Catalog::Find(std::string_view item_id) const {
  auto it = index_.find(AsAbsl(item_id));
  return it == index_.end() ? nullptr : &items_[it->second];
}

}  // namespace iss
