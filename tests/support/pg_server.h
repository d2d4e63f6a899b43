// Test fixture: a throwaway PostgreSQL server (initdb into a temp dir, reached
// only through a Unix socket in the same dir: no TCP port), torn down with the
// object. Works as a
// normal user and as root (then initdb/postgres run as the `postgres` user or
// `nobody`). Fails with a clear message when the server binaries are missing.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace iss::testing {

class PgServer {
 public:
  static absl::StatusOr<std::unique_ptr<PgServer>> Start();
  ~PgServer();  // stops the server (immediate) and deletes the data dir

  // libpq connection string for `dbname` on this server.
  std::string Dsn(const std::string& dbname = "postgres") const;
  // CREATE DATABASE <name>; returns its Dsn.
  absl::StatusOr<std::string> CreateDatabase(const std::string& name);
  const std::string& dir() const { return dir_; }

  // For fault tests: stop (fast mode) and start again on the same socket/data.
  absl::Status Stop();
  absl::Status Restart();

 private:
  PgServer();
  absl::Status RunAsOwner(const std::string& cmd) const;
  std::string bindir_, dir_, user_;
  // The running server process and the thread that forked and reaps it.
  struct Postmaster;
  std::unique_ptr<Postmaster> postmaster_;
};

// One server per test binary, started on first use (GoogleTest fails the
// calling test with the Start() error if it cannot start).
PgServer* SharedPgServer();
// A fresh database on the shared server (unique name), as a Dsn.
std::string FreshDatabaseDsn();

}  // namespace iss::testing
