// A gRPC client no one here wrote, with no proto files, against the real
// iss-ingestion, iss-storage and iss-peebot binaries (their PostgreSQL and
// mock Kafka, tests/e2e's Platform): what grpcurl users do, done by
// grpc-js-reflection-client on @grpc/grpc-js (Node; pinned in
// grpc-reflection/package-lock.json, installed into the build tree by
// grpc-reflection/install.sh). On each server it must list the services,
// resolve grpc.health.v1.Health through reflection and get SERVING from Check
// and Watch, resolve the iss.* service and each method by symbol exactly as
// the binary's own descriptors define them, and call a unary method.
//
// Skips (saying why, and CTest shows "Skipped") when node or npm is missing
// or the packages cannot be installed.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "iss/ingest/v1/ingest.pb.h"
#include "iss/peebot/v1/peebot.pb.h"
#include "iss/storage/v1/storage.pb.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/platform.h"
#include "tests/support/process.h"

namespace iss::e2e {
namespace {

using iss::testing::ChildProcess;
using nlohmann::json;

// `name` on PATH, or "".
std::string OnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "", ':', absl::SkipEmpty())) {
    std::filesystem::path p = std::filesystem::path(std::string(dir)) / name;
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "";
}

// Runs a program to its end; {exit code, its output (stdout + stderr)}.
std::pair<int, std::string> RunToEnd(const std::string& binary, std::vector<std::string> args,
                                     const std::string& log, absl::Duration timeout) {
  ChildProcess::Options o;
  o.binary = binary;
  o.args = std::move(args);
  o.log_path = log;
  ::unlink(log.c_str());
  auto child = ChildProcess::Spawn(std::move(o));
  if (!child.ok()) return {-1, std::string(child.status().message())};
  std::optional<int> code = (*child)->WaitExit(timeout);
  return {code.value_or(-1000), (*child)->ReadLog()};
}

struct Suite {
  std::string skip_reason;
  std::string node;
  std::unique_ptr<Platform> platform;
};
Suite* g = nullptr;

class ReflectionClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g = new Suite;
    g->node = OnPath("node");
    if (g->node.empty()) g->node = OnPath("nodejs");
    if (g->node.empty()) {
      g->skip_reason = "node is not on PATH (scripts/install-deps.sh installs nodejs and npm)";
      return;
    }
    auto [code, out] = RunToEnd("/bin/bash", {ISS_COMPAT_INSTALL_SCRIPT, ISS_COMPAT_NPM_DIR},
                                "/tmp/iss-compat-npm-install.log", absl::Minutes(3));
    if (code != 0) {
      if (out.size() > 2000) out = "..." + out.substr(out.size() - 2000);  // npm's own log
      g->skip_reason =
          absl::StrCat("the pinned npm packages could not be installed (exit ", code, "): ", out);
      return;
    }
    PlatformOptions o;
    o.items = {"NODE3000005", "TIME_000001"};
    o.scenario = sim::DefaultScenario();
    o.scenario.los.clear();  // ingestion stays ready (SERVING) throughout
    o.scenario.faults.clear();
    o.start_gateway = false;
    o.tag = "reflection";
    auto platform = Platform::Start(o);
    ASSERT_TRUE(platform.ok()) << platform.status();
    g->platform = *std::move(platform);
    ASSERT_TRUE(g->platform->StartFeed().ok());
    ASSERT_TRUE(
        iss::testing::WaitHttpOk(g->platform->ingestion_ops_port(), "/readyz", absl::Seconds(30))
            .ok())
        << g->platform->Logs();
  }
  static void TearDownTestSuite() {
    delete g;
    g = nullptr;
  }
  void SetUp() override {
    if (!g->skip_reason.empty()) {
      std::cerr << "\n*** SKIPPED: third-party reflection client not run: " << g->skip_reason
                << "\n\n";
      GTEST_SKIP() << g->skip_reason;
    }
    ASSERT_NE(g->platform, nullptr) << "the platform did not start (see above)";
  }

  // Runs probe.js against one server and checks everything it saw.
  void Probe(int port, const google::protobuf::ServiceDescriptor* service,
             const std::string& unary_method) {
    const std::string address = absl::StrCat("127.0.0.1:", port);
    auto [code, out] =
        RunToEnd(g->node,
                 {std::string(ISS_COMPAT_NPM_DIR) + "/probe.js", address, service->full_name(),
                  unary_method},
                 absl::StrCat("/tmp/iss-reflection-probe-", port, ".log"), absl::Seconds(60));
    ASSERT_EQ(code, 0) << out;
    // The report is the last line (grpc-js may warn on stderr before it).
    const size_t start = out.rfind("{\"address\"");
    ASSERT_NE(start, std::string::npos) << out;
    // Not const: a missing key reads as null (a clear failure) instead of
    // throwing.
    json r = json::parse(out.substr(start), nullptr, false);
    ASSERT_FALSE(r.is_discarded()) << out;
    SCOPED_TRACE(r.dump(2));

    // list
    ASSERT_TRUE(r["services"].is_array());
    std::set<std::string> services(r["services"].begin(), r["services"].end());
    EXPECT_TRUE(services.count(service->full_name()));
    EXPECT_TRUE(services.count("grpc.health.v1.Health"));
    EXPECT_TRUE(services.count("grpc.reflection.v1alpha.ServerReflection"));

    // grpc.health.v1.Health resolved by reflection, then called.
    EXPECT_FALSE(r["health"].contains("error")) << r["health"];
    EXPECT_EQ(r["health"]["check"][""], "SERVING");
    EXPECT_EQ(r["health"]["check"][service->full_name()], "SERVING");
    EXPECT_EQ(r["health"]["watch"], "SERVING");

    // describe: the service as a whole, and each method by its own symbol,
    // must say what the binary's compiled descriptors say.
    for (const char* key : {"describe", "describeBySymbol"}) {
      SCOPED_TRACE(key);
      json& d = r[key];
      ASSERT_FALSE(d.contains("error")) << d;
      EXPECT_EQ(d.size(), static_cast<size_t>(service->method_count()));
      for (int i = 0; i < service->method_count(); ++i) {
        const google::protobuf::MethodDescriptor* m = service->method(i);
        SCOPED_TRACE(m->full_name());
        ASSERT_TRUE(d.contains(m->name()));
        json& got = d[m->name()];
        EXPECT_EQ(got["requestType"], m->input_type()->full_name());
        EXPECT_EQ(got["responseType"], m->output_type()->full_name());
        EXPECT_EQ(got["requestStream"], m->client_streaming());
        EXPECT_EQ(got["responseStream"], m->server_streaming());
        std::vector<std::string> fields;
        for (int f = 0; f < m->input_type()->field_count(); ++f) {
          fields.push_back(m->input_type()->field(f)->name());
        }
        EXPECT_EQ(got["requestFields"], json(fields));
      }
    }

    // A call through the resolved descriptor: its answer decodes into fields
    // of the response type.
    json& call = r["call"];
    ASSERT_FALSE(call.contains("error")) << call;
    const google::protobuf::MethodDescriptor* m = service->FindMethodByName(unary_method);
    ASSERT_NE(m, nullptr);
    ASSERT_FALSE(call["fields"].empty());
    for (const json& f : call["fields"]) {
      EXPECT_NE(m->output_type()->FindFieldByName(f.get<std::string>()), nullptr) << f;
    }
  }
};

TEST_F(ReflectionClientTest, Ingestion) {
  Probe(g->platform->ingestion_grpc_port(),
        iss::ingest::v1::IngestTestEventRequest::descriptor()->file()->FindServiceByName(
            "IngestService"),
        "GetIngestStatus");
}

TEST_F(ReflectionClientTest, Storage) {
  Probe(
      g->platform->storage_grpc_port(),
      iss::storage::v1::ListItemsRequest::descriptor()->file()->FindServiceByName("StorageService"),
      "ListItems");
}

TEST_F(ReflectionClientTest, Peebot) {
  Probe(g->platform->peebot_grpc_port(),
        iss::peebot::v1::GetStatusRequest::descriptor()->file()->FindServiceByName("PeeBotService"),
        "GetStatus");
}

}  // namespace
}  // namespace iss::e2e
