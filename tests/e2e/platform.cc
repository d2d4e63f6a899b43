#include "tests/e2e/platform.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <pqxx/pqxx>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/catalog.h"
#include "common/pg.h"
#include "nlohmann/json.hpp"
#include "tests/support/pg_server.h"
#include "tests/support/wait.h"

namespace iss::e2e {
namespace {

using iss::testing::ChildProcess;
using iss::testing::WaitFor;
using iss::testing::WaitHttpOk;

std::string Loopback(int port) { return absl::StrCat("127.0.0.1:", port); }

absl::Time ParseRfc3339(const std::string& s) {
  absl::Time t = absl::InfinitePast();
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, s, &t, &err)) return absl::InfinitePast();
  return t;
}

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += absl::StrCat("%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

RestEvent FromJson(const nlohmann::json& j) {
  RestEvent e;
  e.event_id = j.value("eventId", "");
  e.item_id = j.value("itemId", "");
  if (j.contains("value") && j["value"].is_string()) {
    e.value = j["value"].get<std::string>();
    e.has_value = true;
  }
  e.source_ts = ParseRfc3339(j.value("sourceTs", ""));
  e.ingest_ts = ParseRfc3339(j.value("ingestTs", ""));
  if (j.contains("receivedTs")) e.received_ts = ParseRfc3339(j.value("receivedTs", ""));
  return e;
}

// `listeners`: as ChildProcess::Options (each binds any free port unless
// `env` names one; the ports it bound are read back from its address file).
absl::StatusOr<std::unique_ptr<ChildProcess>> Spawn(
    const std::string& binary, const std::string& log, std::map<std::string, std::string> env,
    std::map<std::string, std::string> listeners = {}) {
  env.emplace("ISS_LOG_LEVEL", "info");
  ChildProcess::Options o;
  o.binary = binary;
  o.env = std::move(env);
  o.log_path = log;
  o.listeners = std::move(listeners);
  ::unlink(log.c_str());  // one run per file
  return ChildProcess::Spawn(std::move(o));
}

}  // namespace

peebot::OAuthCredentials FakeXCredentials() { return {"e2e-ck", "e2e-cs", "e2e-tk", "e2e-ts"}; }

absl::Duration Percentile(std::vector<absl::Duration> v, double p) {
  if (v.empty()) return absl::InfiniteDuration();
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

// --- SseTail ------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<SseTail>> SseTail::Open(int port, const std::string& target) {
  std::unique_ptr<SseTail> tail(new SseTail());
  tail->port_ = port;
  tail->target_ = target;
  if (absl::Status s = tail->Connect(); !s.ok()) return s;
  tail->thread_ = std::thread([t = tail.get()] { t->Run(); });
  return tail;
}

absl::Status SseTail::Connect() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string req = absl::StrCat(
      "GET ", target_, " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("connect: ", std::strerror(err)));
  }
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return absl::UnavailableError("send");
  }
  fd_.store(fd);
  return absl::OkStatus();
}

SseTail::~SseTail() {
  // The reader polls `stop_` every 100 ms; only it touches the socket until
  // it has ended (it may be closing and reopening it right now).
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_.load() >= 0) ::close(fd_.load());
}

void SseTail::Run() {
  while (!stop_) {
    ReadStream();
    if (stop_) return;
    // The stream ended: the server dropped a reader that fell too far behind
    // (or restarted). Subscribe again, as a dashboard would, and count it:
    // events committed in between are not seen on the tail.
    ::close(fd_.exchange(-1));
    reconnects_.fetch_add(1);
    while (!stop_ && !Connect().ok()) {
      pollfd none{-1, 0, 0};
      ::poll(&none, 0, 100);  // the gateway may be restarting: retry every 100 ms
    }
  }
}

void SseTail::ReadStream() {
  const int fd = fd_.load();
  std::string buf;
  char chunk[65536];
  bool headers_done = false;
  while (!stop_) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return;
    const absl::Time now = absl::Now();  // when these bytes became visible to a client
    buf.append(chunk, static_cast<size_t>(n));
    size_t begin = 0;
    if (!headers_done) {
      const size_t end = buf.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      begin = end + 4;
      headers_done = true;
    }
    // Consume every complete block, then drop them from the buffer at once
    // (erasing block by block is quadratic in a 64 KiB read of ~150 events).
    size_t pos;
    while ((pos = buf.find("\n\n", begin)) != std::string::npos) {
      const std::string_view block(buf.data() + begin, pos - begin);
      begin = pos + 2;
      if (block.rfind("data: ", 0) != 0) continue;  // comments, `event: end`
      auto j = nlohmann::json::parse(block.substr(6), nullptr, false);
      if (j.is_discarded() || !j.contains("eventId")) continue;
      const RestEvent e = FromJson(j);
      absl::MutexLock l(&mu_);
      if (arrivals_.emplace(e.event_id, now).second) {
        latencies_.emplace_back(now - e.source_ts, now - e.ingest_ts);
      }
    }
    buf.erase(0, begin);
  }
}

std::map<std::string, absl::Time> SseTail::arrivals() const {
  absl::MutexLock l(&mu_);
  return arrivals_;
}

std::vector<std::pair<absl::Duration, absl::Duration>> SseTail::latencies() const {
  absl::MutexLock l(&mu_);
  return latencies_;
}

size_t SseTail::count() const {
  absl::MutexLock l(&mu_);
  return arrivals_.size();
}

std::vector<std::string> SessionItems(size_t n) {
  std::vector<std::string> items = {std::string(kUrineTankItem), std::string(kUrineProcessorItem),
                                    std::string(kTimeItem)};
  for (const CatalogItem& c : Catalog::Embedded().items()) {
    if (items.size() >= n) break;
    if (c.item_id != kUrineTankItem && c.item_id != kUrineProcessorItem) items.push_back(c.item_id);
  }
  return items;
}

// --- Platform -----------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Platform>> Platform::Start(PlatformOptions options) {
  std::unique_ptr<Platform> p(new Platform());
  p->options_ = std::move(options);
  const std::string& tag = p->options_.tag;
  auto log = [&](const std::string& what) {
    return absl::StrCat("/tmp/iss-", tag, "-", what, ".log");
  };

  // PostgreSQL, migrated by the real tool.
  p->dsn_ = iss::testing::FreshDatabaseDsn();
  if (p->dsn_.empty()) return absl::UnavailableError("no PostgreSQL fixture");
  {
    auto migrate = Spawn(ISS_MIGRATE_BINARY, log("migrate"), {{"ISS_PG_DSN", p->dsn_}});
    if (!migrate.ok()) return migrate.status();
    if ((*migrate)->WaitExit(absl::Seconds(60)) != 0) {
      return absl::InternalError(absl::StrCat("iss-migrate failed: ", (*migrate)->ReadLog()));
    }
  }

  // The bus.
  auto cluster = iss::testing::KafkaCluster::Start(p->options_.brokers);
  if (!cluster.ok()) return cluster.status();
  p->cluster_ = *std::move(cluster);
  if (auto s = p->cluster_->CreateTopic("telemetry.raw.v1", 12); !s.ok()) return s;
  if (auto s = p->cluster_->CreateTopic("telemetry.dlq.v1", 1); !s.ok()) return s;
  const std::string brokers = p->cluster_->bootstrap();

  // Fake X.
  auto fake = peebot::testing::FakeXServer::Start(FakeXCredentials());
  if (!fake.ok()) return fake.status();
  p->fake_x_ = *std::move(fake);

  // The gateway is told ingestion's gRPC address before ingestion starts
  // (StartFeed): a port held for it here, which ingestion's gRPC server binds
  // (SO_REUSEPORT, tests/support/process.h) and binds again when restarted.
  auto ingest_grpc = iss::testing::ReservedPort::Bind();
  if (!ingest_grpc.ok()) return ingest_grpc.status();
  p->ingest_grpc_port_.emplace(*std::move(ingest_grpc));
  p->ingest_grpc_ = p->ingest_grpc_port_->port();

  std::map<std::string, std::string> storage_env = {
      {"ISS_PG_DSN", p->dsn_},
      {"ISS_KAFKA_BROKERS", brokers},
      {"ISS_STORAGE_SESSION_TIMEOUT", "6s"},
  };
  for (const auto& [k, v] : p->options_.storage_env) storage_env[k] = v;
  auto storage = Spawn(ISS_STORAGE_BINARY, log("storage"), storage_env,
                       {{"grpc", "ISS_STORAGE_GRPC_ADDR"}, {"ops", "ISS_STORAGE_OPS_ADDR"}});
  if (!storage.ok()) return storage.status();
  p->storage_ = *std::move(storage);

  if (p->options_.start_peebot) {
    const auto creds = FakeXCredentials();
    std::map<std::string, std::string> peebot_env = {
        {"ISS_PG_DSN", p->dsn_},
        {"ISS_KAFKA_BROKERS", brokers},
        {"ISS_PEEBOT_COOLDOWN", "0s"},
        // As for storage: a restarted member rejoins in seconds
        // (the mock waits session timeout - 1 s for the old one).
        {"ISS_PEEBOT_SESSION_TIMEOUT", "6s"},
        {"ISS_PEEBOT_MAX_STEP_GAP", "2s"},
        {"ISS_PEEBOT_X_BASE_URL", p->fake_x_->base_url()},
        {"ISS_ADMIN_TOKEN", kPlatformAdminToken},
        {"ISS_X_CONSUMER_KEY", creds.consumer_key},
        {"ISS_X_CONSUMER_SECRET", creds.consumer_secret},
        {"ISS_X_ACCESS_TOKEN", creds.token},
        {"ISS_X_ACCESS_TOKEN_SECRET", creds.token_secret}};
    if (p->options_.social_destinations) {
      auto bsky = peebot::testing::FakeBlueskyServer::Start();
      if (!bsky.ok()) return bsky.status();
      p->fake_bluesky_ = *std::move(bsky);
      auto masto = peebot::testing::FakeMastodonServer::Start();
      if (!masto.ok()) return masto.status();
      p->fake_mastodon_ = *std::move(masto);
      peebot::testing::FakeWebhookReceiver::Options hook;
      hook.secrets = {kPlatformWebhookSecret};
      auto receiver = peebot::testing::FakeWebhookReceiver::Start(hook);
      if (!receiver.ok()) return receiver.status();
      p->fake_webhook_ = *std::move(receiver);
      const peebot::testing::FakeBlueskyAccount account;
      peebot_env["ISS_PEEBOT_DESTINATIONS"] = "x,bluesky,mastodon,webhook";
      peebot_env["ISS_PEEBOT_BLUESKY_PDS_URL"] = p->fake_bluesky_->base_url();
      peebot_env["ISS_BLUESKY_IDENTIFIER"] = account.handle;
      peebot_env["ISS_BLUESKY_APP_PASSWORD"] = account.password;
      peebot_env["ISS_PEEBOT_MASTODON_URL"] = p->fake_mastodon_->base_url();
      peebot_env["ISS_MASTODON_ACCESS_TOKEN"] = peebot::testing::FakeMastodonAccount{}.token;
      peebot_env["ISS_PEEBOT_WEBHOOK_URL"] = p->fake_webhook_->url();
      peebot_env["ISS_PEEBOT_WEBHOOK_SECRET"] = kPlatformWebhookSecret;
    }
    for (const auto& [k, v] : p->options_.peebot_env) peebot_env[k] = v;
    auto peebot = Spawn(ISS_PEEBOT_BINARY, log("peebot"), peebot_env,
                        {{"grpc", "ISS_PEEBOT_GRPC_ADDR"}, {"ops", "ISS_PEEBOT_OPS_ADDR"}});
    if (!peebot.ok()) return peebot.status();
    p->peebot_ = *std::move(peebot);
  }

  // The ports they bound (a restart binds them again: the gateway holds them).
  if (auto s = p->storage_->WaitForAddresses(); !s.ok()) {
    return absl::UnavailableError(absl::StrCat("storage: ", s.message(), "\n", p->Logs()));
  }
  p->storage_grpc_ = p->storage_->port("grpc");
  p->storage_ops_ = p->storage_->port("ops");
  if (p->peebot_) {
    if (auto s = p->peebot_->WaitForAddresses(); !s.ok()) {
      return absl::UnavailableError(absl::StrCat("peebot: ", s.message(), "\n", p->Logs()));
    }
    p->peebot_grpc_ = p->peebot_->port("grpc");
    p->peebot_ops_ = p->peebot_->port("ops");
  }

  if (auto s = WaitHttpOk(p->storage_ops_, "/readyz", absl::Seconds(30)); !s.ok()) {
    return absl::DeadlineExceededError(
        absl::StrCat("storage not ready: ", s.message(), "\n", p->Logs()));
  }
  if (p->peebot_) {
    if (auto s = WaitHttpOk(p->peebot_ops_, "/readyz", absl::Seconds(30)); !s.ok()) {
      return absl::DeadlineExceededError(
          absl::StrCat("peebot not ready: ", s.message(), "\n", p->Logs()));
    }
  }

  if (p->options_.start_gateway) {
    auto gateway = Spawn(ISS_GATEWAY_BINARY, log("gateway"),
                         {{"ISS_GATEWAY_INGEST_ADDR", Loopback(p->ingest_grpc_)},
                          {"ISS_GATEWAY_STORAGE_ADDR", Loopback(p->storage_grpc_)},
                          {"ISS_GATEWAY_PEEBOT_ADDR", Loopback(p->peebot_grpc_)},
                          {"ISS_GATEWAY_RATE_LIMIT_RPS", "0"},
                          {"ISS_GATEWAY_HEALTH_INTERVAL", "200ms"}},
                         {{"http", "ISS_GATEWAY_HTTP_ADDR"}});
    if (!gateway.ok()) return gateway.status();
    p->gateway_ = *std::move(gateway);
    if (auto s = p->gateway_->WaitForAddresses(); !s.ok()) {
      return absl::UnavailableError(absl::StrCat("gateway: ", s.message(), "\n", p->Logs()));
    }
    p->gateway_http_ = p->gateway_->port("http");
    if (auto s = WaitHttpOk(p->gateway_http_, "/healthz", absl::Seconds(30)); !s.ok()) {
      return absl::DeadlineExceededError(
          absl::StrCat("gateway not up: ", s.message(), "\n", p->Logs()));
    }
  }
  // The consumers own their partitions (the group joins are done) before any
  // data flows, so latency figures do not include the joins. Their JSON log
  // says so ("kafka partitions assigned").
  auto assigned = [](const ChildProcess* c) {
    return c == nullptr || c->ReadLog().find("\"kafka partitions assigned\"") != std::string::npos;
  };
  if (!WaitFor([&] { return assigned(p->storage_.get()) && assigned(p->peebot_.get()); },
               absl::Seconds(30), absl::Milliseconds(20))) {
    return absl::DeadlineExceededError(absl::StrCat("consumers never assigned\n", p->Logs()));
  }
  return p;
}

absl::Status Platform::StartFeed() {
  sim::SimulatorOptions so;
  so.address = "127.0.0.1:0";
  so.speed = options_.speed;
  so.record = options_.record;
  so.items = options_.items;
  epoch_ = absl::Now();
  so.epoch = epoch_;
  auto simulator = sim::Simulator::Start(options_.scenario, so);
  if (!simulator.ok()) return simulator.status();
  simulator_ = *std::move(simulator);

  std::vector<std::string> subscribed;
  for (const auto& i : options_.items) {
    if (i != "TIME_000001") subscribed.push_back(i);
  }
  std::map<std::string, std::string> env = {
      {"ISS_KAFKA_BROKERS", cluster_->bootstrap()},
      {"ISS_INGEST_GRPC_ADDR", Loopback(ingest_grpc_)},
      {"ISS_INGEST_SOURCE", "isslive"},
      {"ISS_INGEST_SOURCE_LABEL", "simulator"},
      {"ISS_LS_SERVER", Loopback(simulator_->port())},
      {"ISS_LS_TLS", "false"},
      {"ISS_LS_ITEMS", absl::StrJoin(subscribed, ",")},
  };
  for (const auto& [k, v] : options_.ingestion_env) env[k] = v;
  return StartIngestion(std::move(env));
}

absl::Status Platform::StartReplay(const std::string& path, double speed,
                                   absl::Time session_epoch) {
  epoch_ = session_epoch;
  std::map<std::string, std::string> env = {
      {"ISS_KAFKA_BROKERS", cluster_->bootstrap()},
      {"ISS_INGEST_GRPC_ADDR", Loopback(ingest_grpc_)},
      {"ISS_INGEST_SOURCE", "replay"},
      {"ISS_INGEST_REPLAY_FILE", path},
      {"ISS_INGEST_REPLAY_SPEED", absl::StrCat(speed)},
  };
  for (const auto& [k, v] : options_.ingestion_env) env[k] = v;
  return StartIngestion(std::move(env));
}

absl::Status Platform::StartIngestion(std::map<std::string, std::string> env) {
  auto ingestion =
      Spawn(ISS_INGESTION_BINARY, absl::StrCat("/tmp/iss-", options_.tag, "-ingestion.log"),
            std::move(env), {{"grpc", "ISS_INGEST_GRPC_ADDR"}, {"ops", "ISS_INGEST_OPS_ADDR"}});
  if (!ingestion.ok()) return ingestion.status();
  ingestion_ = *std::move(ingestion);
  if (absl::Status s = ingestion_->WaitForAddresses(); !s.ok()) {
    return absl::UnavailableError(absl::StrCat("ingestion: ", s.message(), "\n", Logs()));
  }
  ingest_ops_ = ingestion_->port("ops");
  return absl::OkStatus();
}

void Platform::StopSimulator() {
  if (simulator_) simulator_->Stop();
}

Platform::~Platform() {
  // Source first, then the consumers, so nothing is mid-write against a vanished broker.
  if (simulator_) simulator_->Stop();
  ingestion_.reset();
  gateway_.reset();
  peebot_.reset();
  storage_.reset();
}

absl::StatusOr<std::string> Platform::Get(const std::string& target) {
  auto r = iss::testing::HttpGet(gateway_http_, target);
  if (!r.ok()) return r.status();
  if (r->first != 200) {
    return absl::UnavailableError(absl::StrCat("GET ", target, " -> ", r->first, ": ", r->second));
  }
  return r->second;
}

absl::StatusOr<std::vector<RestEvent>> Platform::QueryAll(const std::vector<std::string>& items) {
  std::string base = "/api/v1/telemetry:window?page_size=10000";
  for (const auto& i : items) absl::StrAppend(&base, "&item_ids=", UrlEncode(i));
  const absl::Time start = epoch_ - absl::Hours(1);
  const absl::Time end = absl::Now() + absl::Hours(24);
  absl::StrAppend(
      &base,
      "&start_time=", UrlEncode(absl::FormatTime(absl::RFC3339_full, start, absl::UTCTimeZone())),
      "&end_time=", UrlEncode(absl::FormatTime(absl::RFC3339_full, end, absl::UTCTimeZone())));
  std::vector<RestEvent> out;
  std::string token;
  for (int page = 0; page < 1000; ++page) {
    auto body = Get(token.empty() ? base : absl::StrCat(base, "&page_token=", UrlEncode(token)));
    if (!body.ok()) return body.status();
    auto j = nlohmann::json::parse(*body, nullptr, false);
    if (j.is_discarded())
      return absl::InternalError(absl::StrCat("bad JSON: ", body->substr(0, 200)));
    if (j.contains("events")) {
      for (const auto& e : j["events"]) out.push_back(FromJson(e));
    }
    token = j.value("nextPageToken", "");
    if (token.empty()) return out;
  }
  return absl::InternalError("too many pages");
}

absl::StatusOr<Platform::Counts> Platform::CountInDb() {
  auto conn = pg::Connect(dsn_);
  if (!conn.ok()) return conn.status();
  Counts c;
  auto s = pg::Guard([&] {
    pqxx::work tx(**conn);
    auto row = tx.exec1("SELECT count(*), count(DISTINCT event_id) FROM telemetry");
    c.rows = row[0].as<int64_t>();
    c.distinct_ids = row[1].as<int64_t>();
  });
  if (!s.ok()) return s;
  return c;
}

std::string Platform::Logs() const {
  std::string out;
  auto tail = [&](const char* name, const std::unique_ptr<ChildProcess>& c) {
    if (!c) return;
    std::string log = c->ReadLog();
    if (log.size() > 3000) log = log.substr(log.size() - 3000);
    absl::StrAppend(&out, "--- ", name, " (", c->log_path(), ")\n", log, "\n");
  };
  tail("storage", storage_);
  tail("peebot", peebot_);
  tail("ingestion", ingestion_);
  tail("gateway", gateway_);
  return out;
}

}  // namespace iss::e2e
