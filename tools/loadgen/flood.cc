// iss-flood: oversized gRPC requests against the real iss-storage and
// iss-ingestion binaries, and what they cost in memory (issue #13). It brings
// up storage and ingestion on loopback through the e2e harness (throwaway
// PostgreSQL, mock Kafka cluster, the simulator feeding ingestion), then per
// target sends ISS_FLOOD_CALLS concurrent requests of about ISS_FLOOD_BYTES
// each, every one on its own connection: GetLatest to storage and
// GetIngestStatus to ingestion, both a list of item ids of ISS_FLOOD_ID_BYTES
// bytes (0 = empty strings: the most parsed objects per byte). It reports the
// status codes, the slowest answer, and the service's RSS before, at its peak
// during the attack (sampled every 10 ms), and ISS_FLOOD_SETTLE after it.
#include <atomic>
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/catalog.h"
#include "common/config.h"
#include "grpcpp/grpcpp.h"
#include "iss/ingest/v1/ingest.grpc.pb.h"
#include "iss/storage/v1/storage.grpc.pb.h"
#include "tests/e2e/platform.h"
#include "tests/support/process.h"

namespace {

struct Round {
  std::map<grpc::StatusCode, int> codes;
  absl::Duration slowest;
  double before = 0, peak = 0, after = 0;
};

// One channel per call, none shared: each request has its own connection.
std::shared_ptr<grpc::Channel> OwnChannel(int port) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials(), args);
}

// Runs `calls` concurrent `call(channel)`s while sampling the RSS of `pid`.
template <typename Call>
Round Attack(pid_t pid, int port, int calls, absl::Duration settle, Call call) {
  Round r;
  r.before = iss::testing::RssMiB(pid);
  std::atomic<bool> done{false};
  double peak = r.before;
  std::thread sampler([&] {
    while (!done.load()) {
      peak = std::max(peak, iss::testing::RssMiB(pid));
      absl::SleepFor(absl::Milliseconds(10));
    }
  });
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < calls; ++i) {
    channels.push_back(OwnChannel(port));
    channels.back()->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }
  std::vector<std::thread> threads;
  std::vector<grpc::StatusCode> codes(calls);
  std::vector<absl::Duration> took(calls);
  for (int i = 0; i < calls; ++i) {
    threads.emplace_back([&, i] {
      const absl::Time t0 = absl::Now();
      codes[i] = call(channels[i]).error_code();
      took[i] = absl::Now() - t0;
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  sampler.join();
  r.peak = peak;
  for (int i = 0; i < calls; ++i) {
    ++r.codes[codes[i]];
    r.slowest = std::max(r.slowest, took[i]);
  }
  absl::SleepFor(settle);
  r.after = iss::testing::RssMiB(pid);
  return r;
}

std::string CodeName(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    default:
      return absl::StrCat("code ", static_cast<int>(c));
  }
}

void Print(const std::string& what, const Round& r) {
  std::string codes;
  for (const auto& [c, n] : r.codes)
    absl::StrAppend(&codes, codes.empty() ? "" : " ", CodeName(c), "x", n);
  std::cout << absl::StrFormat(
                   "%s: %s, slowest %.2f s; RSS before %.1f MiB, peak %.1f MiB, after %.1f MiB",
                   what, codes, absl::ToDoubleSeconds(r.slowest), r.before, r.peak, r.after)
            << std::endl;
}

// Ids of `id_bytes` bytes (distinct while they can be), about `bytes` on the wire.
template <typename Request>
void FillIds(Request* req, int64_t bytes, int64_t id_bytes) {
  const int64_t per_id = id_bytes + 1 + (id_bytes < 128 ? 1 : 2);  // tag, length, bytes
  const int64_t n = bytes / per_id;
  req->mutable_item_ids()->Reserve(static_cast<int>(n));
  for (int64_t i = 0; i < n; ++i) {
    std::string id = absl::StrFormat("%0*d", static_cast<int>(id_bytes), i);
    id.resize(static_cast<size_t>(id_bytes), 'X');
    req->add_item_ids(std::move(id));
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace iss;
  EnvConfig cfg("flood");
  const int64_t* calls = cfg.Int("ISS_FLOOD_CALLS", 6, 1, 1000,
                                 "Concurrent requests per round, each on its own connection");
  const int64_t* bytes =
      cfg.Int("ISS_FLOOD_BYTES", 15 << 20, 16, 1 << 30, "Size of each request on the wire (about)");
  const int64_t* id_bytes =
      cfg.Int("ISS_FLOOD_ID_BYTES", 11, 0, 64, "Bytes per item id in the requests' id lists");
  const int64_t* rounds = cfg.Int("ISS_FLOOD_ROUNDS", 2, 1, 100, "Attack rounds per target");
  const absl::Duration* settle =
      cfg.Duration("ISS_FLOOD_SETTLE", absl::Seconds(10), absl::ZeroDuration(), absl::Minutes(10),
                   "Wait after each round before the 'after' RSS");
  cfg.LoadOrExit(argc, argv);

  e2e::PlatformOptions po;
  po.items = {std::string(kUrineTankItem), std::string(kUrineProcessorItem),
              std::string(kTimeItem)};
  po.scenario.seed = 3;
  po.scenario.urinations_per_hour = 0;
  po.scenario.flicker_per_hour = 0;
  po.record = false;
  po.start_peebot = false;
  po.start_gateway = false;
  po.tag = "flood";
  std::cerr << "starting storage and ingestion (logs: /tmp/iss-flood-*.log)...\n";
  auto platform = e2e::Platform::Start(po);
  if (!platform.ok()) {
    std::cerr << "platform: " << platform.status() << "\n";
    return 1;
  }
  e2e::Platform& p = **platform;
  if (auto s = p.StartFeed(); !s.ok()) {
    std::cerr << "feed: " << s << "\n";
    return 1;
  }
  const int storage_port = p.storage_grpc_port(), ingest_port = p.ingestion_grpc_port();
  if (auto s = testing::WaitHttpOk(p.ingestion_ops_port(), "/readyz", absl::Seconds(30)); !s.ok()) {
    std::cerr << "ingestion not ready: " << s << "\n";
    return 1;
  }
  absl::SleepFor(absl::Seconds(3));  // past start-up allocations

  storage::v1::GetLatestRequest latest;
  FillIds(&latest, *bytes, *id_bytes);
  ingest::v1::GetIngestStatusRequest status;
  FillIds(&status, *bytes, *id_bytes);
  const std::string shape =
      absl::StrFormat("%d calls x %.2f MiB (%d ids of %d B)", *calls,
                      latest.ByteSizeLong() / 1048576.0, latest.item_ids_size(), *id_bytes);

  for (int64_t i = 1; i <= *rounds; ++i) {
    Round r =
        Attack(p.storage().pid(), storage_port, static_cast<int>(*calls), *settle,
               [&](const std::shared_ptr<grpc::Channel>& ch) {
                 grpc::ClientContext ctx;
                 ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
                 storage::v1::GetLatestResponse resp;
                 return storage::v1::StorageService::NewStub(ch)->GetLatest(&ctx, latest, &resp);
               });
    Print(absl::StrCat("iss-storage GetLatest round ", i, ", ", shape), r);
  }
  for (int64_t i = 1; i <= *rounds; ++i) {
    Round r = Attack(
        p.ingestion()->pid(), ingest_port, static_cast<int>(*calls), *settle,
        [&](const std::shared_ptr<grpc::Channel>& ch) {
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
          ingest::v1::IngestStatus resp;
          return ingest::v1::IngestService::NewStub(ch)->GetIngestStatus(&ctx, status, &resp);
        });
    Print(absl::StrCat("iss-ingestion GetIngestStatus round ", i, ", ", shape), r);
  }
  // Both still answer a real request.
  grpc::ClientContext ctx;
  storage::v1::GetLatestResponse resp;
  const grpc::Status s =
      storage::v1::StorageService::NewStub(OwnChannel(storage_port))->GetLatest(&ctx, {}, &resp);
  grpc::ClientContext ictx;
  ingest::v1::IngestStatus istatus;
  const grpc::Status is = ingest::v1::IngestService::NewStub(OwnChannel(ingest_port))
                              ->GetIngestStatus(&ictx, {}, &istatus);
  std::cout << "afterwards: storage GetLatest " << CodeName(s.error_code()) << " ("
            << resp.values_size() << " values), ingestion GetIngestStatus "
            << CodeName(is.error_code()) << std::endl;
  return s.ok() && is.ok() ? 0 : 1;
}
