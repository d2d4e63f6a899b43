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
  absl::Status Restart();
  std::string ReadLog() const;

 private:
  explicit ChildProcess(Options options) : options_(std::move(options)) {}
  absl::Status Launch();
  Options options_;
  pid_t pid_ = -1;
  std::optional<int> exit_;
};

// VmRSS of a process in MiB (from /proc/<pid>/status), or -1.
double RssMiB(pid_t pid);

// A TCP port on 127.0.0.1 that was free a moment ago, never one an earlier
// call in this process returned, nor one reserved with ReservePort.
int FreePort();
// Keeps FreePort from ever returning `port`: for listeners that close and
// must bind the same port again (a mock Kafka broker taken down and brought
// back aborts the process if its port was handed out meanwhile).
void ReservePort(int port);

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
