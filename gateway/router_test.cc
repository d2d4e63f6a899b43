#include "gateway/router.h"

#include "gateway/testdata/echo.pb.h"
#include "gtest/gtest.h"
#include "iss/storage/v1/storage.pb.h"

namespace iss::gateway {
namespace {

using Kind = RouteDecision::Kind;

const RouteTable& Table() {
  static const RouteTable* table = [] {
    (void)iss::gatewaytest::v1::EchoRequest::descriptor();
    (void)iss::storage::v1::QueryWindowRequest::descriptor();
    auto t = RouteTable::Build(*google::protobuf::DescriptorPool::generated_pool(),
                               {"iss.gatewaytest.v1.EchoService", "iss.storage.v1.StorageService"});
    EXPECT_TRUE(t.ok()) << t.status();
    return new RouteTable(*std::move(t));
  }();
  return *table;
}

RouteDecision D(absl::string_view method, absl::string_view target, bool preflight = false,
                bool known = true) {
  return Decide(Table(), method, known, target, preflight);
}

TEST(Router, ApiRoutesCarryTheirTemplateAndTheQuery) {
  const RouteDecision d = D("GET", "/api/v1/items/NODE3000005/series?bucket=60s");
  EXPECT_EQ(d.kind, Kind::kApi);
  EXPECT_EQ(d.route_label, "/api/v1/items/{item_id}/series");
  EXPECT_EQ(d.method_label, "GET");
  EXPECT_EQ(d.path, "/api/v1/items/NODE3000005/series");
  EXPECT_EQ(d.query, "bucket=60s");
  EXPECT_TRUE(d.rate_limited);
  ASSERT_NE(d.match.route, nullptr);
  EXPECT_EQ(d.match.route->grpc_path, "/iss.storage.v1.StorageService/GetSeries");
}

TEST(Router, ProbesAndPreflightsAreNeverRateLimited) {
  for (const char* path : {"/healthz", "/readyz", "/metrics"}) {
    const RouteDecision d = D("GET", path);
    EXPECT_EQ(d.kind, Kind::kOps) << path;
    EXPECT_EQ(d.route_label, path);
    EXPECT_FALSE(d.rate_limited) << path;
    EXPECT_EQ(D("POST", path).kind, Kind::kMethodNotAllowed) << path;
  }
  const RouteDecision pre = D("OPTIONS", "/api/v1/items", /*preflight=*/true);
  EXPECT_EQ(pre.kind, Kind::kPreflight);
  EXPECT_FALSE(pre.rate_limited);
  // OPTIONS without Access-Control-Request-Method is no preflight.
  EXPECT_NE(D("OPTIONS", "/api/v1/items").kind, Kind::kPreflight);
}

TEST(Router, ListingsWrongMethodsStaticFilesAndUnknownVerbs) {
  EXPECT_EQ(D("GET", "/api/v1/routes").kind, Kind::kRouteListing);
  EXPECT_EQ(D("GET", "/openapi.json").kind, Kind::kOpenApi);
  EXPECT_TRUE(D("GET", "/openapi.json").rate_limited);
  EXPECT_EQ(D("DELETE", "/openapi.json").kind, Kind::kMethodNotAllowed);
  const RouteDecision wrong = D("DELETE", "/api/v1/items/X/series");
  EXPECT_EQ(wrong.kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(wrong.route_label, "unmatched");
  EXPECT_EQ(D("GET", "/app.js").kind, Kind::kStaticOrNotFound);
  const RouteDecision odd = D("BREW", "/pot", false, /*known=*/false);
  EXPECT_EQ(odd.kind, Kind::kStaticOrNotFound);
  EXPECT_EQ(odd.method_label, "OTHER");  // a bounded metric label
}

}  // namespace
}  // namespace iss::gateway
