#include "tests/support/pg_server.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace iss::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kDirPrefix[] = "iss-pg-";
// The server listens on no TCP port, only on a Unix socket in its own
// directory (.s.PGSQL.<this>): nothing else can take it, and no port has to
// be picked for it before it starts.
constexpr int kSocketPort = 5432;
constexpr char kMissingBinaries[] =
    "PostgreSQL server binaries not found: install postgresql-15 (scripts/install-deps.sh)";

bool HasServerBinaries(const fs::path& dir) {
  for (const char* name : {"initdb", "postgres"}) {
    if (access((dir / name).c_str(), X_OK) != 0) return false;
  }
  return true;
}

// PATH first, then /usr/lib/postgresql/<version>/bin, newest version first.
std::string FindBinDir() {
  if (const char* path = std::getenv("PATH")) {
    for (absl::string_view entry : absl::StrSplit(path, ':', absl::SkipEmpty())) {
      fs::path dir{std::string(entry)};
      if (HasServerBinaries(dir)) return dir.string();
    }
  }
  std::vector<std::pair<int, fs::path>> versions;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789.") != std::string::npos) continue;
    versions.emplace_back(std::atoi(name.c_str()), entry.path() / "bin");
  }
  std::sort(versions.begin(), versions.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (const auto& [version, dir] : versions) {
    if (HasServerBinaries(dir)) return dir.string();
  }
  return "";
}

bool ProcessAlive(pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

// Directories are named iss-pg-<pid>-XXXXXX. A crashed test binary cannot
// remove its own; the next run removes those whose owner process is gone
// (their server died with the owner: it runs with a parent-death signal).
void RemoveStaleDirs() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::temp_directory_path(ec), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kDirPrefix, 0) != 0) continue;
    const pid_t owner = std::atoi(name.c_str() + sizeof(kDirPrefix) - 1);
    if (owner <= 0 || owner == getpid() || ProcessAlive(owner)) continue;
    std::error_code ignored;
    fs::remove_all(entry.path(), ignored);
  }
}

std::string ReadFileTail(const std::string& path, size_t max_bytes = 2000) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.size() > max_bytes) text = text.substr(text.size() - max_bytes);
  return text;
}

struct RunAs {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Resolves who runs initdb/postgres: ourselves, or, as root, `postgres` or `nobody`.
absl::StatusOr<std::pair<RunAs, std::string>> ChooseUser() {
  if (geteuid() != 0) {
    const passwd* pw = getpwuid(geteuid());
    return std::make_pair(RunAs{}, std::string(pw ? pw->pw_name : "unknown"));
  }
  for (const char* name : {"postgres", "nobody"}) {
    if (const passwd* pw = getpwnam(name)) {
      return std::make_pair(RunAs{true, pw->pw_uid, pw->pw_gid}, std::string(name));
    }
  }
  return absl::FailedPreconditionError(
      "running as root and neither the `postgres` nor the `nobody` user exists");
}

// In the forked child: drop to the owner, arrange to die with the parent,
// redirect output, exec. Only async-signal-safe calls; never returns.
[[noreturn]] void ExecChild(const RunAs& as, pid_t parent, const char* log_path,
                            const std::vector<std::string>& argv) {
  if (as.switch_user) {
    if (setgroups(0, nullptr) != 0 || setgid(as.gid) != 0 || setuid(as.uid) != 0) _exit(126);
  }
  // Set after the uid change (which clears it). SIGQUIT = immediate shutdown,
  // so a crashed test binary never leaves a server behind.
  prctl(PR_SET_PDEATHSIG, SIGQUIT);
  if (getppid() != parent) _exit(125);
  int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
  }
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, STDIN_FILENO);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

absl::StatusOr<pid_t> Spawn(const RunAs& as, const std::string& log_path,
                            const std::vector<std::string>& argv) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) ExecChild(as, parent, log_path.c_str(), argv);
  return pid;
}

bool AcceptsConnections(const std::string& dsn) {
  try {
    pqxx::connection conn(dsn);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

int WaitExit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

RunAs RunAsUser(const std::string& user) {
  if (geteuid() != 0) return RunAs{};
  const passwd* pw = getpwnam(user.c_str());
  return pw ? RunAs{true, pw->pw_uid, pw->pw_gid} : RunAs{};
}

}  // namespace

// The server is forked from its own thread, which then waits for it: the
// parent-death signal fires when the forking *thread* ends, so the server
// must not be the child of a test thread that may finish before it.
struct PgServer::Postmaster {
  pid_t pid = -1;
  std::thread reaper;
  absl::Mutex mu;
  bool exited ABSL_GUARDED_BY(mu) = false;
  int status ABSL_GUARDED_BY(mu) = 0;

  static absl::StatusOr<std::unique_ptr<Postmaster>> Launch(RunAs as, std::string log,
                                                            std::vector<std::string> argv) {
    auto pm = std::make_unique<Postmaster>();
    std::promise<absl::StatusOr<pid_t>> started;
    std::future<absl::StatusOr<pid_t>> pid = started.get_future();
    pm->reaper = std::thread([p = pm.get(), as, log, argv, &started] {
      absl::StatusOr<pid_t> child = Spawn(as, log, argv);
      const bool ok = child.ok();
      const pid_t child_pid = ok ? *child : -1;
      started.set_value(std::move(child));  // `started` is gone after this line
      if (!ok) return;
      const int status = WaitExit(child_pid);
      absl::MutexLock lock(&p->mu);
      p->exited = true;
      p->status = status;
    });
    absl::StatusOr<pid_t> child = pid.get();
    if (!child.ok()) {
      pm->reaper.join();
      return child.status();
    }
    pm->pid = *child;
    return pm;
  }

  std::optional<int> ExitStatus() {
    absl::MutexLock lock(&mu);
    return exited ? std::optional<int>(status) : std::nullopt;
  }

  // Signals the server and waits until it is gone.
  void Terminate(int sig) {
    if (!ExitStatus()) kill(pid, sig);
    reaper.join();
  }
};

PgServer::PgServer() = default;

absl::StatusOr<std::unique_ptr<PgServer>> PgServer::Start() {
  std::unique_ptr<PgServer> server(new PgServer());
  server->bindir_ = FindBinDir();
  if (server->bindir_.empty()) return absl::FailedPreconditionError(kMissingBinaries);
  auto user = ChooseUser();
  if (!user.ok()) return user.status();
  server->user_ = user->second;

  RemoveStaleDirs();
  std::error_code ec;
  std::string tmpl = (fs::temp_directory_path(ec) / absl::StrCat(kDirPrefix, getpid(), "-XXXXXX"));
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", tmpl, ": ", std::strerror(errno)));
  }
  server->dir_ = tmpl;
  if (user->first.switch_user) {
    if (chown(server->dir_.c_str(), user->first.uid, user->first.gid) != 0) {
      return absl::InternalError(absl::StrCat("chown ", server->dir_, ": ", std::strerror(errno)));
    }
  }

  const std::string log = server->dir_ + "/initdb.log";
  auto pid = Spawn(user->first, log,
                   {server->bindir_ + "/initdb", "-D", server->dir_ + "/data", "-A", "trust", "-E",
                    "UTF8", "-U", "postgres", "--no-sync", "--locale=C"});
  if (!pid.ok()) return pid.status();
  const int status = WaitExit(*pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat("initdb failed (status ", status, "): ", ReadFileTail(log)));
  }
  if (absl::Status s = server->Restart(); !s.ok()) return s;
  return server;
}

PgServer::~PgServer() {
  if (postmaster_) postmaster_->Terminate(SIGQUIT);  // immediate: nothing to keep
  if (!dir_.empty()) {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
}

std::string PgServer::Dsn(const std::string& dbname) const {
  return absl::StrCat("host=", dir_, " port=", kSocketPort, " user=postgres dbname=", dbname,
                      " connect_timeout=10");
}

absl::StatusOr<std::string> PgServer::CreateDatabase(const std::string& name) {
  if (name.empty() || name.size() > 63 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("database name must be [a-z0-9_]{1,63}, got \"", name, "\""));
  }
  try {
    pqxx::connection conn(Dsn("postgres"));
    pqxx::nontransaction txn(conn);
    txn.exec0("CREATE DATABASE " + txn.quote_name(name));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("CREATE DATABASE ", name, ": ", e.what()));
  }
  return Dsn(name);
}

absl::Status PgServer::Stop() {
  if (!postmaster_) return absl::OkStatus();
  postmaster_->Terminate(SIGINT);  // fast shutdown: clean, no recovery on restart
  postmaster_.reset();
  return absl::OkStatus();
}

absl::Status PgServer::Restart() {
  if (postmaster_) {
    if (absl::Status s = Stop(); !s.ok()) return s;
  }
  const std::string log = dir_ + "/postgres.log";
  auto pm = Postmaster::Launch(
      RunAsUser(user_), log,
      {bindir_ + "/postgres", "-D", dir_ + "/data", "-p", absl::StrCat(kSocketPort), "-k", dir_,
       "-c", "listen_addresses=", "-c", "fsync=off", "-c", "full_page_writes=off", "-c",
       "synchronous_commit=off", "-c", "max_connections=200"});
  if (!pm.ok()) return pm.status();
  postmaster_ = std::move(*pm);
  const std::string ping_dsn = Dsn("postgres");
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    if (AcceptsConnections(ping_dsn)) return absl::OkStatus();
    if (std::optional<int> status = postmaster_->ExitStatus()) {
      postmaster_->reaper.join();
      postmaster_.reset();
      return absl::UnavailableError(
          absl::StrCat("postgres exited at start-up (status ", *status, "): ", ReadFileTail(log)));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("postgres did not accept connections within 60 s: ", ReadFileTail(log)));
}

absl::Status PgServer::RunAsOwner(const std::string& cmd) const {
  auto pid = Spawn(RunAsUser(user_), dir_ + "/cmd.log", {"/bin/sh", "-c", cmd});
  if (!pid.ok()) return pid.status();
  const int status = WaitExit(*pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat("`", cmd, "` failed (status ", status, ")"));
  }
  return absl::OkStatus();
}

PgServer* SharedPgServer() {
  static absl::StatusOr<std::unique_ptr<PgServer>>* server =
      new absl::StatusOr<std::unique_ptr<PgServer>>(PgServer::Start());
  if (!server->ok()) {
    ADD_FAILURE() << "cannot start the PostgreSQL fixture: " << server->status();
    return nullptr;
  }
  // Stopped at exit (and by the parent-death signal if the binary crashes).
  static const bool registered = [] {
    std::atexit([] { server->value().reset(); });
    return true;
  }();
  (void)registered;
  return server->value().get();
}

std::string FreshDatabaseDsn() {
  static std::atomic<int> counter{0};
  PgServer* server = SharedPgServer();
  if (server == nullptr) return "";
  auto dsn = server->CreateDatabase(absl::StrCat("t", getpid(), "_", counter.fetch_add(1)));
  if (!dsn.ok()) {
    ADD_FAILURE() << dsn.status();
    return "";
  }
  return *dsn;
}

}  // namespace iss::testing
