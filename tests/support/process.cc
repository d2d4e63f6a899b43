#include "tests/support/process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/address_file.h"
#include "common/net.h"
#include "tests/support/http_client.h"
#include "tests/support/wait.h"

extern char** environ;

namespace iss::testing {
namespace {

// Closes every descriptor >= `first`; async-signal-safe (runs between fork
// and exec of a multi-threaded process).
void CloseFdsFrom(int first) {
  if (syscall(SYS_close_range, static_cast<unsigned>(first), ~0U, 0U) == 0) return;
  const long max = sysconf(_SC_OPEN_MAX);
  for (int fd = first; fd < (max > 0 ? std::min<long>(max, 65536) : 4096); ++fd) close(fd);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(Options options) {
  if (access(options.binary.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("not an executable: ", options.binary));
  }
  if (options.log_path.empty()) {
    options.log_path =
        absl::StrCat("/tmp/iss-test-", std::filesystem::path(options.binary).filename().string(),
                     "-", getpid(), "-", absl::ToUnixNanos(absl::Now()), ".log");
  }
  auto child = std::unique_ptr<ChildProcess>(new ChildProcess(std::move(options)));
  if (!child->options_.listeners.empty()) {
    child->address_file_ = child->options_.log_path + ".addresses";
    child->options_.env["ISS_ADDRESS_FILE"] = child->address_file_;
    for (const auto& [name, variable] : child->options_.listeners) {
      child->options_.env.emplace(variable, "127.0.0.1:0");
    }
  }
  if (auto s = child->Launch(); !s.ok()) return s;
  return child;
}

absl::Status ChildProcess::Launch() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : options_.env) env[k] = v;
  std::vector<std::string> env_strings, arg_strings = {options_.binary};
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  for (const auto& a : options_.args) arg_strings.push_back(a);
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  for (auto& s : arg_strings) argv.push_back(s.data());
  envp.push_back(nullptr);
  argv.push_back(nullptr);

  // A restart writes the file again: never read the last run's.
  if (!address_file_.empty()) ::unlink(address_file_.c_str());
  const int log_fd =
      open(options_.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    return absl::InternalError(
        absl::StrCat("open ", options_.log_path, ": ", std::strerror(errno)));
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    // Child: die with the test, log to the file, unblock signals the test may block.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    // Nothing else of the test process may live on in the child. Sockets the
    // in-process fixtures opened without O_CLOEXEC (librdkafka's mock broker
    // accepts connections with plain accept()) would otherwise stay open in
    // every child: closing a broker connection in the mock then never reaches
    // its client, which waits for answers on a half-open connection.
    CloseFdsFrom(3);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(log_fd);
  pid_ = pid;
  exit_.reset();
  return absl::OkStatus();
}

ChildProcess::~ChildProcess() {
  if (Running()) {
    if (!Stop(absl::Seconds(10)).has_value()) {
      Signal(SIGKILL).IgnoreError();
      WaitExit(absl::Seconds(5));
    }
  }
  if (!address_file_.empty()) ::unlink(address_file_.c_str());
}

bool ChildProcess::Running() {
  if (pid_ <= 0 || exit_.has_value()) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  if (r == pid_) exit_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  return false;
}

absl::Status ChildProcess::Signal(int sig) {
  if (!Running()) return absl::FailedPreconditionError("process is not running");
  if (kill(pid_, sig) != 0)
    return absl::InternalError(absl::StrCat("kill: ", std::strerror(errno)));
  return absl::OkStatus();
}

std::optional<int> ChildProcess::WaitExit(absl::Duration timeout) {
  WaitFor([&] { return !Running(); }, timeout, absl::Milliseconds(2));
  return exit_;
}

std::optional<int> ChildProcess::Stop(absl::Duration timeout) {
  if (!Running()) return exit_;
  Signal(SIGTERM).IgnoreError();
  return WaitExit(timeout);
}

absl::Status ChildProcess::Restart() {
  if (Running()) return absl::FailedPreconditionError("still running");
  return Launch();
}

absl::Status ChildProcess::WaitForAddresses(absl::Duration timeout) {
  if (address_file_.empty()) return absl::FailedPreconditionError("no listeners to wait for");
  absl::StatusOr<std::map<std::string, std::string>> read;
  WaitFor(
      [&] {
        read = ReadAddressFile(address_file_);
        return read.ok() || !Running();
      },
      timeout, absl::Milliseconds(5));
  if (!read.ok()) {
    return absl::UnavailableError(absl::StrCat(options_.binary, " never wrote ", address_file_,
                                               Running() ? "" : " (it exited)", ": ",
                                               read.status().message()));
  }
  for (const auto& [name, variable] : options_.listeners) {
    const auto it = read->find(name);
    absl::StatusOr<net::HostPort> hp =
        it == read->end() ? absl::NotFoundError("missing") : net::ParseHostPort(it->second);
    if (!hp.ok()) {
      return absl::DataLossError(
          absl::StrCat(address_file_, ": listener ", name, ": ", hp.status().message()));
    }
    ports_[name] = hp->port;
    // A restart binds this port again (it was ours; dependents hold it).
    options_.env[variable] = it->second;
  }
  return absl::OkStatus();
}

int ChildProcess::port(const std::string& listener) const {
  const auto it = ports_.find(listener);
  return it == ports_.end() ? 0 : it->second;
}

std::string ChildProcess::ReadLog() const {
  std::ifstream in(options_.log_path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double RssMiB(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream ss(line.substr(6));
      double kb = 0;
      ss >> kb;
      return kb / 1024.0;
    }
  }
  return -1;
}

absl::StatusOr<ReservedPort> ReservedPort::Bind() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  const int one = 1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::InternalError(absl::StrCat("reserving a port: ", std::strerror(err)));
  }
  return ReservedPort(fd, ntohs(addr.sin_port));
}

ReservedPort::ReservedPort(ReservedPort&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), port_(other.port_) {}

ReservedPort& ReservedPort::operator=(ReservedPort&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    port_ = other.port_;
  }
  return *this;
}

ReservedPort::~ReservedPort() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<std::pair<int, std::string>> HttpRequest(
    int port, const std::string& method, const std::string& target, const std::string& body,
    const std::map<std::string, std::string>& headers) {
  std::vector<std::pair<std::string, std::string>> fields(headers.begin(), headers.end());
  if (!body.empty() && !headers.count("Content-Type") && !headers.count("content-type")) {
    fields.emplace_back("Content-Type", "application/json");
  }
  const HttpResponse r = HttpCall(port, method, target, body, fields);
  if (r.status == 0) {
    return absl::UnavailableError(absl::StrCat("HTTP ", method, " ", target, ": no response"));
  }
  return std::make_pair(r.status, r.body);
}

absl::StatusOr<std::pair<int, std::string>> HttpGet(
    int port, const std::string& target, const std::map<std::string, std::string>& headers) {
  return HttpRequest(port, "GET", target, "", headers);
}

absl::Status WaitHttpOk(int port, const std::string& path, absl::Duration timeout) {
  absl::Status last = absl::DeadlineExceededError("not tried");
  const bool ok = WaitFor(
      [&] {
        auto r = HttpGet(port, path);
        if (!r.ok()) {
          last = r.status();
          return false;
        }
        if (r->first != 200) {
          last = absl::UnavailableError(absl::StrCat("HTTP ", r->first, ": ", r->second));
          return false;
        }
        return true;
      },
      timeout, absl::Milliseconds(50));
  if (ok) return absl::OkStatus();
  return absl::DeadlineExceededError(
      absl::StrCat("127.0.0.1:", port, path, " not ready: ", last.message()));
}

}  // namespace iss::testing
