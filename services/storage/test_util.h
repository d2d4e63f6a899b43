// Test helpers shared by the storage integration suites: valid events (real
// event ids) and a freshly migrated database on the shared PgServer.
#pragma once

#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <string>

#include "absl/time/time.h"
#include "common/event_id.h"
#include "common/pg.h"
#include "iss/telemetry/v1/telemetry.pb.h"
#include "services/storage/decoder.h"
#include "tests/support/pg_server.h"

namespace iss::storage::testutil {

inline iss::telemetry::v1::TelemetryEvent MakeEvent(const std::string& item, absl::Time source_ts,
                                                    const std::string& value) {
  iss::telemetry::v1::TelemetryEvent e;
  e.set_schema_version(1);
  e.set_item_id(item);
  SetTimestampMicros(absl::ToUnixMicros(source_ts), e.mutable_source_ts());
  SetTimestampMicros(absl::ToUnixMicros(absl::Now()), e.mutable_ingest_ts());
  e.set_value(value);
  e.mutable_status()->set_class_("24");
  e.set_source("test");
  e.set_signal(iss::telemetry::v1::SIGNAL_STATE_AOS);
  e.set_event_id(ComputeEventId(e));
  return e;
}

// A new database with every migration applied; "" (and a test failure) on error.
inline std::string MigratedDsn() {
  const std::string dsn = iss::testing::FreshDatabaseDsn();
  if (dsn.empty()) return "";
  auto conn = pg::Connect(dsn);
  if (!conn.ok()) {
    ADD_FAILURE() << conn.status();
    return "";
  }
  auto v = pg::Migrate(**conn);
  if (!v.ok()) {
    ADD_FAILURE() << v.status();
    return "";
  }
  return dsn;
}

inline int64_t Count(const std::string& dsn, const std::string& sql) {
  pqxx::connection conn(dsn);
  pqxx::nontransaction tx(conn);
  return tx.exec1(sql)[0].as<int64_t>();
}

}  // namespace iss::storage::testutil
