// Latest values of 300 items, open loop at a fixed request rate (default
// 1000/s): through the REST gateway (HTTP/1.1 keep-alive, JSON) versus the
// same RPC called directly over gRPC, against the same upstream in the same
// run. Latency is measured from each request's *scheduled* send time, so a
// stall is charged to every request it delays (no coordinated omission).
//
//   build/dev/bench/gateway/gateway_bench [--benchmark_min_time=0.2]
//   env: ISS_BENCH_RPS (1000), ISS_BENCH_SECONDS (5), ISS_BENCH_CLIENTS (4),
//        ISS_BENCH_GATEWAY_THREADS (2: the gateway's HTTP I/O threads)
#include <utility>  // before any Asio header

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <thread>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "boost/asio.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "common/grpc_util.h"
#include "common/runtime.h"
#include "gateway/fronted.h"
#include "gateway/route_table.h"
#include "gateway/server.h"
#include "gateway/testing/fake_upstream.h"
#include "gateway/transcoder.h"
#include "iss/storage/v1/storage.grpc.pb.h"

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

int EnvInt(const char* name, int def) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : def;
}

// User + system CPU seconds of the whole process (client, gateway, upstream).
double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

struct Fixture {
  std::unique_ptr<iss::gateway::testing::FakeUpstream> storage;
  std::unique_ptr<iss::gateway::Upstreams> upstreams;
  std::unique_ptr<iss::gateway::RouteTable> routes;
  iss::Health health;
  std::unique_ptr<iss::gateway::Server> server;
  std::string items_query;
  std::string latest_bytes;  // the upstream's serialized answer

  Fixture() {
    iss::ConfigureServiceRuntime();  // as iss-gateway's main() does (Abseil deadlock detection off)
    storage = std::make_unique<iss::gateway::testing::FakeUpstream>(
        std::vector<std::string>{"iss.storage.v1.StorageService"}, "t");
    iss::storage::v1::GetLatestResponse latest;
    const absl::Time now = absl::Now();
    for (int i = 0; i < 300; ++i) {
      auto* v = latest.add_values();
      v->set_item_id(absl::StrCat("ITEM", 100000 + i));
      v->set_value(absl::StrCat(i * 1.25));
      *v->mutable_source_ts() = iss::ToProto(now);
      *v->mutable_ingest_ts() = iss::ToProto(now);
      v->mutable_status()->set_class_("24");
      v->mutable_status()->set_indicator("N");
      v->mutable_status()->set_color("green");
      v->set_event_id(std::string(64, 'a'));
      absl::StrAppend(&items_query, i ? "&" : "", "item_ids=ITEM", 100000 + i);
    }
    latest_bytes = latest.SerializeAsString();
    storage->Reply("/iss.storage.v1.StorageService/GetLatest", latest);
    if (!storage->Start().ok()) std::abort();
    upstreams = std::make_unique<iss::gateway::Upstreams>(
        iss::gateway::PlatformUpstreams("127.0.0.1:1", storage->address(), "127.0.0.1:1"));
    routes = std::make_unique<iss::gateway::RouteTable>(*iss::gateway::RouteTable::Build(
        *google::protobuf::DescriptorPool::generated_pool(), upstreams->ServiceNames()));
    iss::gateway::ServerOptions o;
    o.address = "127.0.0.1:0";
    o.threads = EnvInt("ISS_BENCH_GATEWAY_THREADS", 2);  // the gateway's default
    o.max_url_bytes = 64 << 10;
    o.max_header_bytes = 64 << 10;
    server = *iss::gateway::Server::Start(o, routes.get(), upstreams.get(), &health);
  }
};

Fixture& F() {
  static Fixture* f = new Fixture;
  return *f;
}

// Runs `call` open loop at `rps` spread over `clients` threads for `seconds`;
// returns latencies (seconds) from the scheduled send time, and the failures.
template <typename MakeCaller>
std::vector<double> OpenLoop(MakeCaller make_caller, int rps, int seconds, int clients,
                             int* failures) {
  std::vector<std::vector<double>> per(clients);
  std::atomic<int> failed{0};
  const auto start = Clock::now() + std::chrono::milliseconds(50);
  const auto interval = std::chrono::nanoseconds(1'000'000'000LL * clients / rps);
  const int per_client = rps * seconds / clients;
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto call = make_caller();
      const auto offset = std::chrono::nanoseconds(1'000'000'000LL / rps) * c;
      per[c].reserve(per_client);
      for (int i = 0; i < per_client; ++i) {
        const auto scheduled = start + offset + interval * i;
        std::this_thread::sleep_until(scheduled);
        if (!call()) failed.fetch_add(1);
        per[c].push_back(std::chrono::duration<double>(Clock::now() - scheduled).count());
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<double> all;
  for (auto& v : per) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  *failures = failed.load();
  return all;
}

// `cpu` is the process's user+system CPU seconds over the run: per request it
// is what one request costs end to end on this box (client + path + upstream),
// far less sensitive to the other load on the machine than latency is.
void Report(benchmark::State& state, const std::vector<double>& lat, int failures, double wall,
            double cpu) {
  auto q = [&](double p) {
    return lat.empty() ? 0 : lat[std::min(lat.size() - 1, size_t(p * lat.size()))];
  };
  state.counters["p50_ms"] = q(0.50) * 1e3;
  state.counters["p90_ms"] = q(0.90) * 1e3;
  state.counters["p99_ms"] = q(0.99) * 1e3;
  state.counters["max_ms"] = lat.empty() ? 0 : lat.back() * 1e3;
  state.counters["requests"] = static_cast<double>(lat.size());
  state.counters["failures"] = failures;
  state.counters["achieved_rps"] = lat.size() / wall;
  state.counters["cpu_us_per_req"] = lat.empty() ? 0 : cpu / lat.size() * 1e6;
  state.counters["cpu_cores"] = cpu / wall;
  state.SetIterationTime(wall);
}

void BM_GatewayLatest300(benchmark::State& state) {
  Fixture& f = F();
  const int rps = EnvInt("ISS_BENCH_RPS", 1000), secs = EnvInt("ISS_BENCH_SECONDS", 5),
            clients = EnvInt("ISS_BENCH_CLIENTS", 4);
  const std::string target = "/api/v1/telemetry:latest?" + f.items_query;
  const int port = f.server->port();
  for (auto _ : state) {
    int failures = 0;
    const auto t0 = Clock::now();
    const double cpu0 = ProcessCpuSeconds();
    auto lat = OpenLoop(
        [&] {
          // One keep-alive connection per client thread, as a browser or proxy would.
          auto ioc = std::make_shared<net::io_context>();
          auto stream = std::make_shared<beast::tcp_stream>(*ioc);
          stream->connect({net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
          // Room for a whole answer: a read of at most what the buffer can
          // hold (beast's read_size) would otherwise be 512 bytes, 150
          // recv() calls per answer, charged to the gateway's row. curl and
          // browsers read in 16-64 KiB.
          auto buffer = std::make_shared<beast::flat_buffer>();
          buffer->reserve(64 << 10);
          return [ioc, stream, buffer, &target] {
            http::request<http::empty_body> req{http::verb::get, target, 11};
            req.set(http::field::host, "127.0.0.1");
            beast::error_code ec;
            http::write(*stream, req, ec);
            http::response<http::string_body> res;
            http::read(*stream, *buffer, res, ec);
            return !ec && res.result_int() == 200 && res.body().size() > 300 * 50;
          };
        },
        rps, secs, clients, &failures);
    Report(state, lat, failures, std::chrono::duration<double>(Clock::now() - t0).count(),
           ProcessCpuSeconds() - cpu0);
  }
}

void BM_DirectGrpcLatest300(benchmark::State& state) {
  Fixture& f = F();
  const int rps = EnvInt("ISS_BENCH_RPS", 1000), secs = EnvInt("ISS_BENCH_SECONDS", 5),
            clients = EnvInt("ISS_BENCH_CLIENTS", 4);
  auto channel = grpc::CreateChannel(f.storage->address(), grpc::InsecureChannelCredentials());
  iss::storage::v1::GetLatestRequest request;
  for (int i = 0; i < 300; ++i) request.add_item_ids(absl::StrCat("ITEM", 100000 + i));
  for (auto _ : state) {
    int failures = 0;
    const auto t0 = Clock::now();
    const double cpu0 = ProcessCpuSeconds();
    auto lat = OpenLoop(
        [&] {
          auto stub = std::make_shared<iss::storage::v1::StorageService::Stub>(channel);
          return [stub, &request] {
            grpc::ClientContext ctx;
            ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
            iss::storage::v1::GetLatestResponse resp;
            return stub->GetLatest(&ctx, request, &resp).ok() && resp.values_size() == 300;
          };
        },
        rps, secs, clients, &failures);
    Report(state, lat, failures, std::chrono::duration<double>(Clock::now() - t0).count(),
           ProcessCpuSeconds() - cpu0);
  }
}

// The gateway's own per-request work without any I/O, closed loop (CPU time
// per request, insensitive to the open-loop schedule): query string ->
// request message -> bytes, and upstream bytes -> response message -> JSON.
const iss::gateway::Route& LatestRoute() {
  Fixture& f = F();
  for (const auto& r : f.routes->routes()) {
    if (r.grpc_path == "/iss.storage.v1.StorageService/GetLatest") return r;
  }
  std::abort();
}

void BM_TranscodeRequest300(benchmark::State& state) {
  const iss::gateway::Route& route = LatestRoute();
  const std::string& query = F().items_query;
  for (auto _ : state) {
    auto msg = iss::gateway::BuildRequest(route, {}, query, "");
    if (!msg.ok()) std::abort();
    benchmark::DoNotOptimize((*msg)->SerializeAsString());
  }
}

void BM_TranscodeResponse300(benchmark::State& state) {
  const iss::gateway::Route& route = LatestRoute();
  const std::string& bytes = F().latest_bytes;
  size_t out = 0;
  for (auto _ : state) {
    auto json = iss::gateway::ResponseBytesToJson(route, bytes);
    if (!json.ok()) std::abort();
    out = json->size();
    benchmark::DoNotOptimize(json);
  }
  state.counters["json_bytes"] = static_cast<double>(out);
}

// The same through a parsed message and the reflection printer (the path for
// answers the wire printer declines).
void BM_TranscodeResponseParsed300(benchmark::State& state) {
  const iss::gateway::Route& route = LatestRoute();
  const std::string& bytes = F().latest_bytes;
  for (auto _ : state) {
    google::protobuf::Arena arena;
    auto* msg = iss::gateway::NewMessageOn(route.method->output_type(), &arena);
    if (!msg->ParseFromString(bytes)) std::abort();
    auto json = iss::gateway::ResponseToJson(route, *msg);
    benchmark::DoNotOptimize(json);
  }
}

BENCHMARK(BM_TranscodeRequest300)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TranscodeResponse300)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TranscodeResponseParsed300)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DirectGrpcLatest300)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_GatewayLatest300)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
