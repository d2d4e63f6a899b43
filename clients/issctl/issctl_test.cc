// The real issctl binary, run as a child process, against the platform's real
// gRPC services started in this process with iss::GrpcServer (auth included):
//   - storage: StorageServiceImpl over a throwaway PostgreSQL holding rows
//     written by the real BatchWriter, with a TailHub the test publishes to;
//   - Pee-Bot: AdminService over its own database;
//   - ingestion: IngestServiceImpl in front of the real pipeline and queue
//     (no Kafka needed: nothing drains the queue, the test reads its depth).
// Output is checked the way a script would read it: exit code, stdout (JSON
// parsed back into the protos), stderr.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/catalog.h"
#include "common/event_id.h"
#include "common/grpc_server.h"
#include "common/grpc_util.h"
#include "common/health.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "services/ingestion/enricher.h"
#include "services/ingestion/pipeline.h"
#include "services/ingestion/replay_format.h"
#include "services/ingestion/service.h"
#include "services/ingestion/validator.h"
#include "services/peebot/admin_service.h"
#include "services/peebot/detector.h"
#include "services/storage/batch_writer.h"
#include "services/storage/conn_pool.h"
#include "services/storage/partitions.h"
#include "services/storage/query_store.h"
#include "services/storage/storage_service.h"
#include "services/storage/tail_hub.h"
#include "services/storage/test_util.h"
#include "services/storage/upkeep.h"
#include "tests/support/pg_server.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace iss::issctl {
namespace {

using iss::telemetry::v1::TelemetryEvent;
namespace sv1 = iss::storage::v1;
namespace pv1 = iss::peebot::v1;
namespace iv1 = iss::ingest::v1;

constexpr char kToken[] = "issctl-test-token";
constexpr char kSessionId[] = "S0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const absl::Time kT0 = absl::FromUnixSeconds(1795000000);

class FixedClock final : public iss::peebot::Clock {
 public:
  absl::Time Now() override { return kT0; }
  bool SleepFor(absl::Duration) override { return true; }
  void Cancel() override {}
};

// A storage server that never answers GetLatest (until the caller gives up):
// what a hung service looks like to issctl's --timeout.
class HungStorage final : public sv1::StorageService::Service {
 public:
  grpc::Status GetLatest(grpc::ServerContext* ctx, const sv1::GetLatestRequest*,
                         sv1::GetLatestResponse*) override {
    iss::testing::WaitFor([ctx] { return ctx->IsCancelled(); }, absl::Seconds(30));
    return grpc::Status(grpc::StatusCode::INTERNAL, "should have been cancelled");
  }
};

struct World {
  Health health;
  // storage
  std::unique_ptr<storage::ConnectionPool> pool;
  std::unique_ptr<storage::QueryStore> store;
  std::unique_ptr<storage::TailHub> hub;
  std::unique_ptr<storage::StorageServiceImpl> storage_service;
  std::unique_ptr<GrpcServer> storage_server;
  // peebot
  std::unique_ptr<peebot::Store> peebot_store;
  std::unique_ptr<peebot::RuntimeSettings> settings;
  FixedClock clock;
  std::unique_ptr<peebot::Poster> poster;
  std::unique_ptr<peebot::DestinationPoster> mastodon;  // configured, no credentials
  std::unique_ptr<peebot::AdminService> peebot_service;
  std::unique_ptr<GrpcServer> peebot_server;
  // ingestion
  std::unique_ptr<ingest::BoundedQueue> queue;
  std::unique_ptr<ingest::SignalTracker> signal;
  std::unique_ptr<ingest::Pipeline> pipeline;
  std::unique_ptr<ingest::IngestServiceImpl> ingest_service;
  std::unique_ptr<GrpcServer> ingest_server;
  // a hung storage
  HungStorage hung;
  std::unique_ptr<GrpcServer> hung_server;
};

World* world = nullptr;

absl::StatusOr<std::unique_ptr<GrpcServer>> Serve(grpc::Service* service) {
  GrpcServerOptions o;
  o.address = "127.0.0.1:0";
  o.admin_token = kToken;
  o.services = {service};
  o.health = &world->health;
  return GrpcServer::Start(o);
}

struct Result {
  int code = -100;
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Starts issctl with `args`; stdout goes to the child's log file, stderr to a
// file of its own (through sh, so ChildProcess stays the one way to spawn).
// The environment names every server; `env` overrides it.
std::unique_ptr<iss::testing::ChildProcess> Start(const std::vector<std::string>& args,
                                                  std::map<std::string, std::string> env,
                                                  std::string* err_path,
                                                  const std::string& err_to = "") {
  static int n = 0;
  const std::string base = absl::StrCat("/tmp/issctl-test-", getpid(), "-", ++n);
  *err_path = base + ".err";
  iss::testing::ChildProcess::Options o;
  o.binary = "/bin/sh";
  o.args = {"-c", absl::StrCat("exec \"$@\" 2>'", err_to.empty() ? *err_path : err_to, "'"), "sh",
            ISSCTL_BINARY};
  for (const auto& a : args) o.args.push_back(a);
  o.log_path = base + ".out";
  std::remove(o.log_path.c_str());
  o.env = {{"ISSCTL_STORAGE_ADDR", absl::StrCat("127.0.0.1:", world->storage_server->port())},
           {"ISSCTL_PEEBOT_ADDR", absl::StrCat("127.0.0.1:", world->peebot_server->port())},
           {"ISSCTL_INGEST_ADDR", absl::StrCat("127.0.0.1:", world->ingest_server->port())},
           {"ISS_ADMIN_TOKEN", ""}};
  for (auto& [k, v] : env) o.env[k] = v;
  auto child = iss::testing::ChildProcess::Spawn(o);
  EXPECT_TRUE(child.ok()) << child.status();
  return child.ok() ? std::move(*child) : nullptr;
}

Result Finish(iss::testing::ChildProcess& child, const std::string& err_path) {
  Result r;
  auto code = child.WaitExit(absl::Seconds(30));
  EXPECT_TRUE(code.has_value()) << "issctl did not exit";
  r.code = code.value_or(-100);
  r.out = child.ReadLog();
  r.err = ReadFile(err_path);
  std::remove(child.log_path().c_str());
  std::remove(err_path.c_str());
  return r;
}

Result Ctl(const std::vector<std::string>& args, std::map<std::string, std::string> env = {}) {
  std::string err_path;
  auto child = Start(args, std::move(env), &err_path);
  if (child == nullptr) return {};
  return Finish(*child, err_path);
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

template <typename M>
M ParseJson(const std::string& line) {
  M m;
  const auto s = google::protobuf::util::JsonStringToMessage(line, &m);
  EXPECT_TRUE(s.ok()) << s.ToString() << " in: " << line;
  return m;
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
}

class IssctlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    world = new World();
    // Storage over a seeded database.
    const std::string dsn = storage::testutil::MigratedDsn();
    ASSERT_FALSE(dsn.empty());
    auto conn = pg::Connect(dsn);
    ASSERT_TRUE(conn.ok()) << conn.status();
    ASSERT_TRUE(storage::SeedCatalog(**conn, Catalog::Embedded()).ok());
    storage::PartitionManager partitions(absl::InfiniteDuration());
    storage::BatchWriter writer("g", &partitions);
    std::vector<TelemetryEvent> events;
    for (int i = 0; i < 30; ++i) {
      events.push_back(storage::testutil::MakeEvent("NODE3000005", kT0 + absl::Seconds(10 * i),
                                                    absl::StrCat(i)));
    }
    for (int i = 0; i < 20; ++i) {
      events.push_back(storage::testutil::MakeEvent("S0000004", kT0 + absl::Seconds(15 * i),
                                                    absl::StrCat(2 * i)));
    }
    auto written = writer.Write(**conn, events, {{{"telemetry.raw.v1", 0}, 50}});
    ASSERT_TRUE(written.ok()) << written.status();
    world->pool = std::make_unique<storage::ConnectionPool>(dsn, 2);
    world->store = std::make_unique<storage::QueryStore>(world->pool.get(), storage::QueryLimits{});
    world->hub = std::make_unique<storage::TailHub>(100);
    world->storage_service = std::make_unique<storage::StorageServiceImpl>(
        world->store.get(), world->hub.get(), nullptr, "g");
    auto s1 = Serve(world->storage_service.get());
    ASSERT_TRUE(s1.ok()) << s1.status();
    world->storage_server = std::move(*s1);

    // Pee-Bot's admin API over its own database.
    const std::string peebot_dsn = iss::testing::FreshDatabaseDsn();
    ASSERT_FALSE(peebot_dsn.empty());
    world->peebot_store = std::make_unique<peebot::Store>(peebot_dsn);
    ASSERT_TRUE(world->peebot_store->Migrate().ok());
    // Default settings (dry_run=false) and no X credentials, as a fresh install
    // starts: dry-run is forced, and `cooldown set` must still work.
    peebot::PeeBotSettings initial;
    world->settings = std::make_unique<peebot::RuntimeSettings>(initial, false);
    world->poster = std::make_unique<peebot::Poster>(world->peebot_store.get(), nullptr,
                                                     world->settings.get(), &world->clock);
    peebot::DestinationOptions mastodon;
    mastodon.name = "mastodon";
    mastodon.destinations = {"x", "mastodon"};
    world->mastodon = std::make_unique<peebot::DestinationPoster>(
        world->peebot_store.get(), nullptr, world->settings.get(), &world->clock, mastodon);
    peebot::AdminService::Deps deps;
    deps.store = world->peebot_store.get();
    deps.settings = world->settings.get();
    deps.poster = world->poster.get();
    deps.destinations = {world->mastodon.get()};
    world->peebot_service = std::make_unique<peebot::AdminService>(deps);
    auto s2 = Serve(world->peebot_service.get());
    ASSERT_TRUE(s2.ok()) << s2.status();
    world->peebot_server = std::move(*s2);

    // Ingestion: the real pipeline and queue; nothing drains it.
    world->queue = std::make_unique<ingest::BoundedQueue>(100);
    world->signal = std::make_unique<ingest::SignalTracker>();
    world->pipeline = std::make_unique<ingest::Pipeline>(world->queue.get(), world->signal.get());
    world->ingest_service = std::make_unique<ingest::IngestServiceImpl>(
        world->pipeline.get(),
        [] {
          ingest::SourceStatus s;
          s.state = iv1::CONNECTION_STATE_CONNECTED;
          s.session_id = kSessionId;
          s.server = "127.0.0.1:8088";
          s.subscribed_items = 7;
          return s;
        },
        [] { return uint64_t{0}; });
    auto s3 = Serve(world->ingest_service.get());
    ASSERT_TRUE(s3.ok()) << s3.status();
    world->ingest_server = std::move(*s3);

    auto s4 = Serve(&world->hung);
    ASSERT_TRUE(s4.ok()) << s4.status();
    world->hung_server = std::move(*s4);
  }

  static void TearDownTestSuite() {
    if (world == nullptr) return;
    if (world->hub) world->hub->Close();
    for (auto* s : {&world->storage_server, &world->peebot_server, &world->ingest_server,
                    &world->hung_server}) {
      if (*s) (*s)->Shutdown(absl::Seconds(2));
    }
    delete world;
    world = nullptr;
  }
};

// ---- storage ----

TEST_F(IssctlTest, QueryJsonFollowsEveryPageInOrder) {
  const Result r = Ctl({"query", "--items", "NODE3000005,S0000004", "--from", Rfc3339(kT0), "--to",
                        Rfc3339(kT0 + absl::Hours(1)), "--page-size", "7", "--all", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 50u) << r.out;
  std::set<std::string> ids;
  absl::Time prev = absl::InfinitePast();
  for (const auto& line : lines) {
    const auto e = ParseJson<TelemetryEvent>(line);
    ids.insert(e.event_id());
    EXPECT_GE(FromProto(e.source_ts()), prev);
    prev = FromProto(e.source_ts());
    EXPECT_TRUE(e.item_id() == "NODE3000005" || e.item_id() == "S0000004") << line;
  }
  EXPECT_EQ(ids.size(), 50u);
  const auto first = ParseJson<TelemetryEvent>(lines.front());
  EXPECT_EQ(first.value(), "0");
  EXPECT_EQ(FromProto(first.source_ts()), kT0);
  EXPECT_EQ(r.err, "");
}

TEST_F(IssctlTest, QueryWithoutAllStopsAfterOnePageAndTheTokenContinues) {
  const std::vector<std::string> base = {"query",
                                         "--items",
                                         "NODE3000005",
                                         "--from",
                                         Rfc3339(kT0),
                                         "--to",
                                         Rfc3339(kT0 + absl::Hours(1)),
                                         "--page-size",
                                         "10"};
  const Result first = Ctl(base);
  ASSERT_EQ(first.code, 0) << first.err;
  auto lines = Lines(first.out);
  ASSERT_EQ(lines.size(), 11u) << first.out;  // header + 10 rows
  EXPECT_TRUE(absl::StartsWith(lines[0], "SOURCE_TS")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[1], "NODE3000005")) << lines[1];
  EXPECT_TRUE(absl::StartsWith(lines[1], FormatRfc3339Micros(kT0))) << lines[1];
  EXPECT_TRUE(absl::StartsWith(first.err, "more events after these 10: add --all, or continue "))
      << first.err;
  const std::string marker = "--page-token=";
  const size_t at = first.err.find(marker);
  ASSERT_NE(at, std::string::npos) << first.err;
  std::string token = first.err.substr(at + marker.size());
  token = token.substr(0, token.find('\n'));

  auto next_args = base;
  next_args.push_back("--page-token=" + token);
  next_args.push_back("--json");
  const Result second = Ctl(next_args);
  ASSERT_EQ(second.code, 0) << second.err;
  const auto page2 = Lines(second.out);
  ASSERT_EQ(page2.size(), 10u) << second.out;
  EXPECT_EQ(ParseJson<TelemetryEvent>(page2.front()).value(), "10");
}

TEST_F(IssctlTest, QueryRefusedByTheServerNamesTheFieldAndExits4) {
  const Result r = Ctl({"query", "--items", "NODE3000005", "--from", Rfc3339(kT0), "--to",
                        Rfc3339(kT0 + absl::Hours(24 * 40))});
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "issctl: INVALID_ARGUMENT: end_time")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "storage at 127.0.0.1:")) << r.err;
}

TEST_F(IssctlTest, LatestJsonAndText) {
  const Result json = Ctl({"latest", "NODE3000005", "NOPE", "--json"});
  ASSERT_EQ(json.code, 0) << json.err;
  const auto lines = Lines(json.out);
  ASSERT_EQ(lines.size(), 1u) << json.out;
  const auto resp = ParseJson<sv1::GetLatestResponse>(lines[0]);
  ASSERT_EQ(resp.values_size(), 1);
  EXPECT_EQ(resp.values(0).item_id(), "NODE3000005");
  EXPECT_EQ(resp.values(0).value(), "29");
  ASSERT_EQ(resp.missing_item_ids_size(), 1);
  EXPECT_EQ(resp.missing_item_ids(0), "NOPE");

  const Result text = Ctl({"latest", "--items", "NODE3000005,NOPE"});
  ASSERT_EQ(text.code, 0) << text.err;
  const auto rows = Lines(text.out);
  ASSERT_EQ(rows.size(), 3u) << text.out;
  EXPECT_TRUE(absl::StartsWith(rows[0], "ITEM")) << text.out;
  EXPECT_TRUE(absl::StartsWith(rows[1], "NODE3000005  29")) << text.out;
  EXPECT_EQ(rows[2], "no stored value: NOPE");
}

TEST_F(IssctlTest, SeriesItemsAndItem) {
  const Result series = Ctl({"series", "NODE3000005", "--from", Rfc3339(kT0), "--to",
                             Rfc3339(kT0 + absl::Hours(1)), "--bucket", "1m", "--json"});
  ASSERT_EQ(series.code, 0) << series.err;
  const auto resp = ParseJson<sv1::GetSeriesResponse>(Lines(series.out).at(0));
  ASSERT_EQ(resp.buckets_size(), 5);  // 30 values, one per 10 s
  uint64_t count = 0;
  for (const auto& b : resp.buckets()) count += b.count();
  EXPECT_EQ(count, 30u);
  EXPECT_EQ(resp.buckets(0).min(), 0);
  EXPECT_EQ(resp.buckets(0).max(), 5);

  const Result items = Ctl({"items", "--search", "NODE3000005", "--json"});
  ASSERT_EQ(items.code, 0) << items.err;
  bool found = false;
  for (const auto& line : Lines(items.out)) {
    if (ParseJson<sv1::Item>(line).item_id() == "NODE3000005") found = true;
  }
  EXPECT_TRUE(found) << items.out;

  const Result item = Ctl({"item", "NODE3000005"});
  ASSERT_EQ(item.code, 0) << item.err;
  EXPECT_TRUE(absl::StrContains(item.out, "last value:")) << item.out;
  EXPECT_TRUE(absl::StrContains(item.out, "29")) << item.out;

  const Result missing = Ctl({"item", "NOPE_NOT_AN_ITEM"});
  EXPECT_EQ(missing.code, 4) << missing.err;
  EXPECT_TRUE(absl::StrContains(missing.err, "NOT_FOUND")) << missing.err;
}

// Waits until the hub has exactly `n` live subscribers.
bool Subscribers(size_t n) {
  return iss::testing::WaitFor([n] { return world->hub->subscribers() == n; }, absl::Seconds(15));
}

std::vector<storage::EventPtr> Live(int count, int offset) {
  std::vector<storage::EventPtr> out;
  for (int i = 0; i < count; ++i) {
    out.push_back(std::make_shared<TelemetryEvent>(storage::testutil::MakeEvent(
        "NODE3000005", kT0 + absl::Hours(2) + absl::Seconds(offset + i), absl::StrCat(100 + i))));
  }
  return out;
}

TEST_F(IssctlTest, TailJsonStopsAfterCount) {
  ASSERT_TRUE(Subscribers(0));
  std::string err_path;
  auto child = Start({"tail", "NODE3000005", "--count", "3", "--json"}, {}, &err_path);
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(Subscribers(1)) << ReadFile(err_path);
  world->hub->Publish(Live(5, 0));
  const Result r = Finish(*child, err_path);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ParseJson<TelemetryEvent>(lines[i]).value(), absl::StrCat(100 + i));
  }
  EXPECT_EQ(r.err, "");  // stderr is not a terminal: no status line
}

TEST_F(IssctlTest, TailEndsCleanlyOnCtrlCWithTheStatusLine) {
  ASSERT_TRUE(Subscribers(0));
  std::string err_path;
  auto child = Start({"tail", "--progress"}, {}, &err_path);
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(Subscribers(1)) << ReadFile(err_path);
  world->hub->Publish(Live(2, 10));
  ASSERT_TRUE(iss::testing::WaitFor([&] { return Lines(child->ReadLog()).size() == 3; }))
      << child->ReadLog();
  ASSERT_TRUE(child->Signal(SIGINT).ok());
  const Result r = Finish(*child, err_path);
  EXPECT_EQ(r.code, 0) << r.err;
  const auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_TRUE(absl::StartsWith(lines[0], "SOURCE_TS")) << r.out;
  EXPECT_TRUE(absl::StrContains(lines[2], "101")) << r.out;
  // The last redraw of the status line, left on its own line at the end.
  EXPECT_TRUE(absl::StrContains(r.err, "\r\x1b[Ktail: 2 events, ")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "/s, last NODE3000005 (")) << r.err;
  EXPECT_TRUE(absl::EndsWith(r.err, "\n")) << r.err;
}

// A pseudo-terminal for issctl's stderr: what a person at a terminal sees.
class Terminal {
 public:
  Terminal() {
    master_ = posix_openpt(O_RDWR | O_NOCTTY);
    if (master_ < 0 || grantpt(master_) != 0 || unlockpt(master_) != 0) return;
    path_ = ptsname(master_);
    // Held open here too, so the terminal stays up after issctl exits.
    slave_ = open(path_.c_str(), O_RDWR | O_NOCTTY);
    if (slave_ >= 0 && fcntl(master_, F_SETFL, O_NONBLOCK) == 0) ok_ = true;
  }
  ~Terminal() {
    if (slave_ >= 0) close(slave_);
    if (master_ >= 0) close(master_);
  }
  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }
  // Everything written to it so far, once it holds `want`.
  std::string WaitFor(const std::string& want) {
    iss::testing::WaitFor([&] {
      char buf[4096];
      for (ssize_t n; (n = read(master_, buf, sizeof buf)) > 0;) seen_.append(buf, n);
      return absl::StrContains(seen_, want);
    });
    return seen_;
  }

 private:
  int master_ = -1, slave_ = -1;
  bool ok_ = false;
  std::string path_, seen_;
};

TEST_F(IssctlTest, TailDrawsTheStatusLineWhenStderrIsATerminal) {
  Terminal terminal;
  ASSERT_TRUE(terminal.ok());
  ASSERT_TRUE(Subscribers(0));
  std::string err_path;
  auto child = Start({"tail", "NODE3000005", "--count", "2"}, {}, &err_path, terminal.path());
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(Subscribers(1));
  world->hub->Publish(Live(2, 20));
  const Result r = Finish(*child, err_path);
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(Lines(r.out).size(), 3u) << r.out;  // header + 2 rows; stdout untouched

  const std::string seen = terminal.WaitFor("tail: 2 events, ");
  EXPECT_TRUE(absl::StrContains(seen, "tail: 2 events, ")) << seen;
  EXPECT_TRUE(absl::StrContains(seen, "/s, last NODE3000005 (")) << seen;
}

// ---- export ----

// The replay lines of an export, parsed and turned back into events as
// ingestion would (validate, enrich): their event ids.
std::vector<std::string> ExportedIds(const std::string& text,
                                     absl::Time* first_received = nullptr) {
  std::vector<std::string> ids;
  for (const auto& line : Lines(text)) {
    if (line[0] == '#') continue;
    auto u = ingest::ParseReplayLine(line, "replay");
    EXPECT_TRUE(u.ok()) << u.status() << ": " << line;
    if (!u.ok()) continue;
    if (first_received != nullptr && ids.empty()) *first_received = u->received_at;
    auto v = ingest::Validate(*u, absl::Now());
    EXPECT_TRUE(v.ok()) << v.status() << ": " << line;
    if (!v.ok()) continue;
    ids.push_back(ingest::Enrich(*v, iss::telemetry::v1::SIGNAL_STATE_AOS, absl::Now()).event_id());
  }
  return ids;
}

std::string Gunzip(const std::string& path) {
  gzFile gz = gzopen(path.c_str(), "rb");
  if (gz == nullptr) return "";
  std::string out;
  char buf[8192];
  for (int n; (n = gzread(gz, buf, sizeof buf)) > 0;) out.append(buf, n);
  gzclose(gz);
  return out;
}

TEST_F(IssctlTest, ExportWritesReplayLinesThatReplayAsTheStoredEvents) {
  // The stored events' ids, recomputed from what the suite wrote.
  std::vector<std::string> want;
  for (int i = 0; i < 30; ++i) {
    want.push_back(
        storage::testutil::MakeEvent("NODE3000005", kT0 + absl::Seconds(10 * i), absl::StrCat(i))
            .event_id());
  }
  // One item to stdout.
  Result r =
      Ctl({"export", "NODE3000005", "--from", Rfc3339(kT0), "--to", Rfc3339(kT0 + absl::Hours(1))});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(absl::StartsWith(r.out, "# issctl export from storage at ")) << r.out;
  EXPECT_EQ(ExportedIds(r.out), want);
  // Not a terminal: no progress bar, one plain summary line.
  EXPECT_EQ(r.err,
            absl::StrCat("exported 30 events to stdout in ", r.err.substr(r.err.rfind(' ') + 1)))
      << r.err;
  EXPECT_FALSE(absl::StrContains(r.err, "\r")) << r.err;

  // Everything, gzipped, to a file.
  const std::string file = absl::StrCat("/tmp/issctl-export-", getpid(), ".jsonl.gz");
  r = Ctl({"export", "--from", Rfc3339(kT0), "--to", Rfc3339(kT0 + absl::Hours(1)), "--out", file});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(absl::StartsWith(r.err, "exported 50 events to " + file)) << r.err;
  const std::vector<std::string> all = ExportedIds(Gunzip(file));
  EXPECT_EQ(all.size(), 50u);
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), 50u);
  for (const auto& id : want) {
    EXPECT_NE(std::find(all.begin(), all.end(), id), all.end()) << id;
  }
  std::remove(file.c_str());

  // A file that cannot be written: exit 1 naming it; nothing was asked.
  r = Ctl({"export", "--out", "/nonexistent-dir/x.jsonl"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "--out /nonexistent-dir/x.jsonl: No such file")) << r.err;
  // What the server refuses (an item id longer than any) is exit 4 naming
  // the field.
  r = Ctl({"export", std::string(65, 'A')});
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "item_ids")) << r.err;
}

TEST_F(IssctlTest, ExportDrawsAProgressBarWhenStderrIsATerminal) {
  Terminal terminal;
  ASSERT_TRUE(terminal.ok());
  std::string err_path;
  auto child = Start({"export", "--from", Rfc3339(kT0), "--to", Rfc3339(kT0 + absl::Hours(1))}, {},
                     &err_path, terminal.path());
  ASSERT_NE(child, nullptr);
  const Result r = Finish(*child, err_path);
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(ExportedIds(r.out).size(), 50u);  // stdout untouched by the bar
  const std::string seen = terminal.WaitFor("exported 50 events");
  EXPECT_TRUE(absl::StrContains(seen, "exported 50 events")) << seen;
  EXPECT_TRUE(absl::StrContains(seen, "export [####################] 100% 50 events")) << seen;
}

TEST_F(IssctlTest, TailDurationEndsWithSuccess) {
  const Result r = Ctl({"tail", "--duration", "300ms", "--json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
}

// ---- Pee-Bot ----

TEST_F(IssctlTest, PeebotStatusNeedsNoToken) {
  const Result text = Ctl({"peebot", "status"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_TRUE(absl::StrContains(text.out, "mode:")) << text.out;
  EXPECT_TRUE(absl::StrContains(text.out, "dry-run")) << text.out;
  const Result json = Ctl({"peebot", "status", "--json"});
  ASSERT_EQ(json.code, 0) << json.err;
  const auto st = ParseJson<pv1::Status>(Lines(json.out).at(0));
  EXPECT_EQ(st.mode(), "dry-run");
  EXPECT_EQ(st.daily_post_cap(), 17u);
}

TEST_F(IssctlTest, PauseAndResumeForwardTheTokenFromTheEnvironment) {
  const Result none = Ctl({"peebot", "pause", "--reason", "eva"});
  EXPECT_EQ(none.code, 3) << none.err;
  EXPECT_TRUE(absl::StrContains(none.err, "issctl: UNAUTHENTICATED")) << none.err;
  EXPECT_TRUE(absl::StrContains(none.err, "ISS_ADMIN_TOKEN")) << none.err;
  EXPECT_EQ(none.out, "");

  const Result wrong = Ctl({"peebot", "pause"}, {{"ISS_ADMIN_TOKEN", "nope"}});
  EXPECT_EQ(wrong.code, 3) << wrong.err;
  EXPECT_TRUE(absl::StrContains(wrong.err, "PERMISSION_DENIED")) << wrong.err;
  EXPECT_FALSE(world->settings->Get().paused);

  const Result ok =
      Ctl({"peebot", "pause", "--reason", "eva", "--json"}, {{"ISS_ADMIN_TOKEN", kToken}});
  ASSERT_EQ(ok.code, 0) << ok.err;
  const auto st = ParseJson<pv1::Status>(Lines(ok.out).at(0));
  EXPECT_TRUE(st.posting_paused());
  EXPECT_EQ(st.mode(), "paused");
  EXPECT_TRUE(world->settings->Get().paused);
  EXPECT_EQ(world->settings->Get().pause_reason, "eva");

  const Result resumed = Ctl({"peebot", "resume"}, {{"ISS_ADMIN_TOKEN", kToken}});
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_TRUE(absl::StrContains(resumed.out, "posting paused:")) << resumed.out;
  EXPECT_FALSE(world->settings->Get().paused);
}

TEST_F(IssctlTest, DestinationsPauseOneAndTestPostToOne) {
  const Result list = Ctl({"peebot", "destinations"});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_TRUE(absl::StrContains(list.out, "DESTINATION")) << list.out;
  EXPECT_TRUE(absl::StrContains(list.out, "mastodon")) << list.out;
  const Result json = Ctl({"peebot", "destinations", "--json"});
  ASSERT_EQ(json.code, 0) << json.err;
  const auto all = ParseJson<pv1::ListDestinationsResponse>(Lines(json.out).at(0));
  ASSERT_EQ(all.destinations_size(), 2);
  EXPECT_EQ(all.destinations(1).destination(), "mastodon");

  const Result denied = Ctl({"peebot", "destination", "pause", "mastodon"});
  EXPECT_EQ(denied.code, 3) << denied.err;
  const Result paused = Ctl({"peebot", "destination", "pause", "mastodon", "--reason", "moving"},
                            {{"ISS_ADMIN_TOKEN", kToken}});
  ASSERT_EQ(paused.code, 0) << paused.err;
  EXPECT_TRUE(absl::StrContains(paused.out, "paused: moving")) << paused.out;
  EXPECT_EQ((*world->peebot_store->DestinationPauses())["mastodon"], "moving");
  const Result unknown =
      Ctl({"peebot", "destination", "pause", "friendster"}, {{"ISS_ADMIN_TOKEN", kToken}});
  EXPECT_EQ(unknown.code, 4) << unknown.err;
  EXPECT_TRUE(absl::StrContains(unknown.err, "destination")) << unknown.err;
  const Result resumed =
      Ctl({"peebot", "destination", "resume", "mastodon"}, {{"ISS_ADMIN_TOKEN", kToken}});
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_TRUE(world->peebot_store->DestinationPauses()->empty());

  const Result test =
      Ctl({"peebot", "test-post", "--destination", "mastodon", "--text", "hello", "--force"},
          {{"ISS_ADMIN_TOKEN", kToken}});
  ASSERT_EQ(test.code, 0) << test.err;
  EXPECT_TRUE(absl::StrContains(test.out, "destination: mastodon")) << test.out;
  EXPECT_TRUE(absl::StrContains(test.out, "dry-run")) << test.out;  // no credentials
}

TEST_F(IssctlTest, CooldownSetShowAndClear) {
  const Result denied = Ctl({"peebot", "cooldown", "set", "5m"});
  EXPECT_EQ(denied.code, 3) << denied.err;

  const Result set =
      Ctl({"peebot", "cooldown", "set", "5m", "--json"}, {{"ISS_ADMIN_TOKEN", kToken}});
  ASSERT_EQ(set.code, 0) << set.err;
  const auto settings = ParseJson<pv1::Settings>(Lines(set.out).at(0));
  EXPECT_EQ(FromProto(settings.cooldown()), absl::Minutes(5));
  EXPECT_EQ(world->settings->Get().cooldown, absl::Minutes(5));
  // Nothing else changed.
  EXPECT_EQ(world->settings->Get().daily_post_cap, peebot::PeeBotSettings{}.daily_post_cap);

  const Result show = Ctl({"peebot", "cooldown"});
  ASSERT_EQ(show.code, 0) << show.err;
  EXPECT_TRUE(absl::StartsWith(show.out, "cooldown:  5m\nremaining: ")) << show.out;

  // --json: the Settings object plus the time left from GetStatus (nothing has
  // been posted, so none is left).
  const Result show_json = Ctl({"peebot", "cooldown", "--json"});
  ASSERT_EQ(show_json.code, 0) << show_json.err;
  const auto shown = ParseJson<google::protobuf::Struct>(Lines(show_json.out).at(0));
  EXPECT_EQ(shown.fields().at("cooldown").string_value(), "300s") << show_json.out;
  ASSERT_TRUE(shown.fields().contains("cooldownRemaining")) << show_json.out;
  EXPECT_EQ(shown.fields().at("cooldownRemaining").string_value(), "0s") << show_json.out;
  EXPECT_TRUE(absl::StrContains(show.out, "remaining: 0\n")) << show.out;

  const Result clear = Ctl({"peebot", "cooldown", "clear"}, {{"ISS_ADMIN_TOKEN", kToken}});
  ASSERT_EQ(clear.code, 0) << clear.err;
  EXPECT_EQ(clear.out, "cooldown: 0\n");
  EXPECT_EQ(world->settings->Get().cooldown, absl::ZeroDuration());
}

TEST_F(IssctlTest, DetectionsNewestFirstAcrossPages) {
  std::vector<peebot::Detection> dets;
  for (int i = 0; i < 3; ++i) {
    peebot::Detection d;
    d.item_id = "NODE3000005";
    d.start_time = kT0 + absl::Minutes(10 * i);
    d.end_time = d.start_time + absl::Seconds(30);
    d.start_level = 40;
    d.end_level = 44 + i;
    d.rise = 4 + i;
    d.volume_ml = 82 * d.rise;
    d.detection_id = peebot::DetectionId(d.item_id, d.start_time);
    dets.push_back(d);
  }
  ASSERT_TRUE(world->peebot_store->CommitBatch("g", {}, dets, "{}", {}).ok());

  const Result json = Ctl({"peebot", "detections", "--page-size", "2", "--all", "--json"});
  ASSERT_EQ(json.code, 0) << json.err;
  const auto lines = Lines(json.out);
  ASSERT_EQ(lines.size(), 3u) << json.out;
  for (int i = 0; i < 3; ++i) {
    const auto d = ParseJson<pv1::Detection>(lines[i]);
    EXPECT_EQ(d.detection_id(), dets[2 - i].detection_id) << i;
  }
  EXPECT_EQ(ParseJson<pv1::Detection>(lines[0]).rise_percent(), 6);

  const Result window = Ctl({"peebot", "detections", "--from", Rfc3339(kT0 + absl::Minutes(5)),
                             "--to", Rfc3339(kT0 + absl::Minutes(15))});
  ASSERT_EQ(window.code, 0) << window.err;
  const auto rows = Lines(window.out);
  ASSERT_EQ(rows.size(), 2u) << window.out;
  EXPECT_TRUE(absl::StartsWith(rows[0], "START")) << window.out;
  EXPECT_TRUE(absl::StrContains(rows[1], dets[1].detection_id)) << window.out;
  EXPECT_TRUE(absl::StrContains(rows[1], "PENDING")) << window.out;
}

// ---- ingestion ----

TEST_F(IssctlTest, IngestSendNeedsTheTokenAndEnqueues) {
  const size_t before = world->queue->depth();
  const std::vector<std::string> args = {
      "ingest",         "send", "--item",      "USLAB000061",
      "--value",        "21.5", "--source-ts", "2025-01-01T12:00:00Z",
      "--status-class", "24"};
  const Result denied = Ctl(args);
  EXPECT_EQ(denied.code, 3) << denied.err;
  EXPECT_TRUE(absl::StrContains(denied.err, "UNAUTHENTICATED")) << denied.err;
  EXPECT_TRUE(absl::StrContains(denied.err, "ingestion at 127.0.0.1:")) << denied.err;
  EXPECT_EQ(world->queue->depth(), before);

  const Result ok = Ctl(args, {{"ISS_ADMIN_TOKEN", kToken}});
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_TRUE(absl::StartsWith(ok.out, "enqueued: event_id ")) << ok.out;
  EXPECT_EQ(world->queue->depth(), before + 1);

  auto bad = args;
  bad[3] = "lower-case";
  const Result invalid = Ctl(bad, {{"ISS_ADMIN_TOKEN", kToken}});
  EXPECT_EQ(invalid.code, 4) << invalid.err;
  EXPECT_TRUE(absl::StrContains(invalid.err, "INVALID_ARGUMENT: field item_id")) << invalid.err;

  const Result status = Ctl({"ingest", "status", "USLAB000061", "--json"});
  ASSERT_EQ(status.code, 0) << status.err;
  const auto st = ParseJson<iv1::IngestStatus>(Lines(status.out).at(0));
  EXPECT_EQ(st.connection_state(), iv1::CONNECTION_STATE_CONNECTED);
  EXPECT_EQ(st.subscribed_items(), 7u);
  ASSERT_EQ(st.items_size(), 1);
  EXPECT_EQ(st.items(0).last_value(), "21.5");

  const Result text = Ctl({"ingest", "status"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_TRUE(absl::StrContains(text.out, "source:")) << text.out;
  EXPECT_TRUE(absl::StrContains(text.out, "streaming")) << text.out;
  // The Lightstreamer session by its fingerprint; the id itself is a secret.
  EXPECT_TRUE(absl::StrContains(text.out, "session fingerprint:")) << text.out;
  EXPECT_TRUE(absl::StrContains(text.out, Fingerprint(kSessionId))) << text.out;
  EXPECT_FALSE(absl::StrContains(text.out, kSessionId)) << text.out;
}

// ---- errors ----

TEST_F(IssctlTest, UnreachableServerIsAClearErrorWithExitCode5) {
  // Held by this test, listening nowhere: connecting is refused.
  auto closed = iss::testing::ReservedPort::Bind();
  ASSERT_TRUE(closed.ok()) << closed.status();
  const std::string addr = absl::StrCat("127.0.0.1:", closed->port());
  const Result flag = Ctl({"latest", "--addr", addr, "--timeout", "5s"});
  EXPECT_EQ(flag.code, 5) << flag.err;
  EXPECT_TRUE(absl::StartsWith(flag.err, "issctl: UNAVAILABLE: ")) << flag.err;
  EXPECT_TRUE(absl::StrContains(flag.err, absl::StrCat("storage at ", addr))) << flag.err;
  EXPECT_TRUE(absl::StrContains(flag.err, "ISSCTL_STORAGE_ADDR")) << flag.err;
  EXPECT_EQ(flag.out, "");

  const Result env = Ctl({"peebot", "status"}, {{"ISSCTL_PEEBOT_ADDR", addr}});
  EXPECT_EQ(env.code, 5) << env.err;
  EXPECT_TRUE(absl::StrContains(env.err, absl::StrCat("Pee-Bot at ", addr))) << env.err;

  const Result tail = Ctl({"tail", "--addr", addr});
  EXPECT_EQ(tail.code, 5) << tail.err;
  EXPECT_TRUE(absl::StrContains(tail.err, "UNAVAILABLE")) << tail.err;
}

TEST_F(IssctlTest, HungServerHitsTheTimeoutWithExitCode5) {
  const absl::Time start = absl::Now();
  const Result r = Ctl({"latest", "--addr", absl::StrCat("127.0.0.1:", world->hung_server->port()),
                        "--timeout", "300ms"});
  EXPECT_EQ(r.code, 5) << r.err;
  EXPECT_TRUE(absl::StartsWith(r.err, "issctl: DEADLINE_EXCEEDED: ")) << r.err;
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
}

// A port that accepts TCP (the kernel's backlog) but never speaks HTTP/2:
// `tail --duration` must not take running out of its duration for success.
TEST_F(IssctlTest, TailWithADurationStillReportsAServerThatNeverAnswers) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 16), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const Result r = Ctl({"tail", "--addr", absl::StrCat("127.0.0.1:", ntohs(addr.sin_port)),
                        "--duration", "1s", "--timeout", "300ms"});
  ::close(fd);
  EXPECT_EQ(r.code, 5) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "UNAVAILABLE")) << r.err;
}

TEST_F(IssctlTest, UsageErrorsExit2AndSendNothing) {
  const Result flag = Ctl({"query", "--items", "A", "--colour", "red"});
  EXPECT_EQ(flag.code, 2);
  EXPECT_EQ(flag.err, "issctl: usage: unknown flag --colour for \"query\" (see issctl --help)\n");
  EXPECT_EQ(flag.out, "");

  const Result token = Ctl({"peebot", "pause", "--token", kToken});
  EXPECT_EQ(token.code, 2);
  EXPECT_TRUE(absl::StrContains(token.err, "ISS_ADMIN_TOKEN")) << token.err;
  EXPECT_FALSE(world->settings->Get().paused);

  const Result none = Ctl({});
  EXPECT_EQ(none.code, 2);
  EXPECT_TRUE(absl::StrContains(none.err, "missing command")) << none.err;

  const Result help = Ctl({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_TRUE(absl::StrContains(help.out, "exit codes:")) << help.out;
  EXPECT_EQ(help.err, "");

  const Result peebot_help = Ctl({"help", "peebot"});
  EXPECT_EQ(peebot_help.code, 0) << peebot_help.err;
  EXPECT_TRUE(absl::StrContains(peebot_help.out, "issctl peebot cooldown set DURATION"))
      << peebot_help.out;
  EXPECT_TRUE(absl::StrContains(peebot_help.out, "--reason TEXT")) << peebot_help.out;
  EXPECT_EQ(peebot_help.err, "");
}

}  // namespace
}  // namespace iss::issctl
