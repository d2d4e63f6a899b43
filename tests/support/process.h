// Test support: running the platform's real binaries as child processes, for
// end-to-end and crash tests (SIGKILL mid-batch, restart, count rows).
// Children get PR_SET_PDEATHSIG, so a crashed test never leaves them behind.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace iss::testing {

class ChildProcess {
 public:
  struct Options {
    std::string binary;  // absolute path
    std::vector<std::string> args;
    // Added to (and overriding) the test's own environment.
    std::map<std::string, std::string> env;
    // stdout+stderr go here (appended); empty = a file in /tmp named after the binary.
    std::string log_path;
    // The listeners the child reports in ISS_ADDRESS_FILE (common/address_file.h):
    // its name there ("grpc", "ops") -> the variable that configures it. Each
    // variable `env` leaves unset gets "127.0.0.1:0" (any free port: nothing
    // is picked for the child, so nothing can take it first); the child gets
    // a fresh address file, which WaitForAddresses() reads.
    std::map<std::string, std::string> listeners;
  };

  static absl::StatusOr<std::unique_ptr<ChildProcess>> Spawn(Options options);
  // SIGTERM, up to 10 s for a clean exit, then SIGKILL.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return options_.log_path; }
  bool Running();
  absl::Status Signal(int sig);
  // Exit code (>= 0) or -signal number; nullopt if still running after `timeout`.
  std::optional<int> WaitExit(absl::Duration timeout);
  // SIGTERM and wait: the graceful-shutdown path.
  std::optional<int> Stop(absl::Duration timeout = absl::Seconds(10));
  // Starts the same binary again with the same options (after it exited).
  // Once WaitForAddresses() succeeded, the listeners bind the ports they
  // bound the first time: others (a gateway, a test's client) hold them.
  absl::Status Restart();
  std::string ReadLog() const;

  // Waits until the child wrote its address file naming every listener
  // (Options::listeners), then port() answers. Fails as soon as it exits.
  absl::Status WaitForAddresses(absl::Duration timeout = absl::Seconds(30));
  // The port `listener` bound, after WaitForAddresses(); 0 before or if unknown.
  int port(const std::string& listener) const;

 private:
  explicit ChildProcess(Options options) : options_(std::move(options)) {}
  absl::Status Launch();
  Options options_;
  std::string address_file_;          // with Options::listeners
  std::map<std::string, int> ports_;  // listener -> bound port
  pid_t pid_ = -1;
  std::optional<int> exit_;
};

// A loopback port held by this process for a child that binds it later, when
// others must be told its address before the child exists (a gateway started
// before the ingestion service it fronts). The socket is bound with
// SO_REUSEPORT and never listens: a listener that also sets SO_REUSEPORT under
// the same user (every gRPC server does, by default) binds the same port and
// alone accepts connections on it, again after a restart, while a bind without
// SO_REUSEPORT fails for as long as this object lives. Until then nothing
// listens on it: connecting is refused.
class ReservedPort {
 public:
  static absl::StatusOr<ReservedPort> Bind();
  ReservedPort(ReservedPort&& other) noexcept;
  ReservedPort& operator=(ReservedPort&& other) noexcept;
  ~ReservedPort();
  int port() const { return port_; }

 private:
  ReservedPort(int fd, int port) : fd_(fd), port_(port) {}
  int fd_ = -1;
  int port_ = 0;
};

// VmRSS of a process in MiB (from /proc/<pid>/status), or -1.
double RssMiB(pid_t pid);

// Polls GET http://127.0.0.1:<port><path> until it answers 200 or `timeout`.
absl::Status WaitHttpOk(int port, const std::string& path, absl::Duration timeout);
// One GET; returns {status code, body}.
absl::StatusOr<std::pair<int, std::string>> HttpGet(
    int port, const std::string& path_and_query,
    const std::map<std::string, std::string>& headers = {});
// One request with a body.
absl::StatusOr<std::pair<int, std::string>> HttpRequest(
    int port, const std::string& method, const std::string& path_and_query, const std::string& body,
    const std::map<std::string, std::string>& headers = {});

}  // namespace iss::testing
