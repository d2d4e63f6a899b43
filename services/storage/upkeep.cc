#include "services/storage/upkeep.h"

#include <vector>

#include "common/log.h"
#include "common/pg.h"
#include "services/storage/query_store.h"

namespace iss::storage {

absl::StatusOr<int64_t> SeedCatalog(pqxx::connection& conn, const Catalog& catalog) {
  std::vector<std::string> ids, disciplines, ops, units, names, descriptions;
  for (const CatalogItem& it : catalog.items()) {
    ids.push_back(it.item_id);
    disciplines.push_back(it.discipline);
    ops.push_back(it.ops_name);
    units.push_back(it.units);
    names.push_back(it.name);
    descriptions.push_back(it.description);
  }
  int64_t n = 0;
  absl::Status s = pg::Guard([&] {
    pqxx::work txn(conn);
    const auto r = txn.exec_params(
        "INSERT INTO items (item_id, discipline, ops_name, units, name, description, in_catalog)"
        " SELECT id, d, o, u, n, x, true"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])"
        "   AS c(id, d, o, u, n, x)"
        " ON CONFLICT (item_id) DO UPDATE SET discipline = EXCLUDED.discipline,"
        "   ops_name = EXCLUDED.ops_name, units = EXCLUDED.units, name = EXCLUDED.name,"
        "   description = EXCLUDED.description, in_catalog = true",
        TextArrayLiteral(ids), TextArrayLiteral(disciplines), TextArrayLiteral(ops),
        TextArrayLiteral(units), TextArrayLiteral(names), TextArrayLiteral(descriptions));
    n = static_cast<int64_t>(r.affected_rows());
    txn.commit();
  });
  if (!s.ok()) return s;
  return n;
}

absl::Status Upkeep::RunOnce(absl::Time now) {
  if (conn_ == nullptr || !conn_->is_open()) {
    auto conn = pg::Connect(dsn_);
    if (!conn.ok()) return conn.status();
    conn_ = *std::move(conn);
  }
  auto dropped = partitions_.Maintain(*conn_, now);
  if (!dropped.ok()) {
    conn_.reset();
    return dropped.status();
  }
  return absl::OkStatus();
}

void Upkeep::Start() {
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(interval_)) {
      if (absl::Status s = RunOnce(); !s.ok()) {
        log::Warn("partition upkeep failed; will retry", {{"error", s.ToString()}});
      }
    }
  });
}

void Upkeep::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

}  // namespace iss::storage
