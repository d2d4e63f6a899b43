#include "gateway/route_table.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "gateway/openapi.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "iss/ingest/v1/ingest.pb.h"
#include "nlohmann/json.hpp"

namespace iss::gateway {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

RouteTable IngestRoutes() {
  (void)iss::ingest::v1::IngestTestEventRequest::descriptor();
  auto t = RouteTable::Build(*google::protobuf::DescriptorPool::generated_pool(),
                             {"iss.ingest.v1.IngestService"});
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : RouteTable();
}

TEST(RouteTable, SuccessStatusComesFromTheMethodOption) {
  const RouteTable table = IngestRoutes();
  const auto created = table.Match("POST", "/api/v1/ingest/test");
  ASSERT_NE(created.route, nullptr);
  EXPECT_EQ(created.route->success_status, 201);  // (iss.options.v1.http_success_status) = 201
  const auto plain = table.Match("GET", "/api/v1/ingest/status");
  ASSERT_NE(plain.route, nullptr);
  EXPECT_EQ(plain.route->success_status, 200);  // no option

  // The published descriptions say what the gateway answers.
  const Json doc = Json::parse(OpenApiJson(table));
  const Json& post = doc["paths"]["/api/v1/ingest/test"]["post"]["responses"];
  EXPECT_TRUE(post.contains("201")) << post;
  EXPECT_FALSE(post.contains("200")) << post;
  EXPECT_TRUE(doc["paths"]["/api/v1/ingest/status"]["get"]["responses"].contains("200"));
  const Json routes = Json::parse(RoutesJson(table));
  ASSERT_EQ(routes["routes"].size(), 2u);
  for (const Json& r : routes["routes"]) {
    EXPECT_EQ(r["successStatus"], r["path"] == "/api/v1/ingest/test" ? 201 : 200) << r;
  }
}

// The routes of a one-method service built at run time with `method_options`
// (text format), and the pool its descriptors live in (declared first: it
// outlives the table).
struct Built {
  std::unique_ptr<google::protobuf::DescriptorPool> pool;
  absl::StatusOr<RouteTable> table;
};

Built BuildWith(const std::string& method_options, bool server_streaming) {
  google::protobuf::FileDescriptorProto file;
  const std::string text =
      absl::StrCat(R"pb(
                     name: "routetabletest/t.proto"
                     package: "routetabletest.v1"
                     syntax: "proto3"
                     dependency: "google/api/annotations.proto"
                     dependency: "iss/options/v1/options.proto"
                     message_type { name: "M" }
                     service { name: "S"
                               method { name: "Make" input_type: ".routetabletest.v1.M"
                                        output_type: ".routetabletest.v1.M"
                                        server_streaming:)pb",
                   server_streaming ? "true" : "false", R"pb(
                     options {
                       [google.api.http] { post: "/t/v1/make" body: "*" })pb",
                   method_options, R"pb(}
                                        }
    })pb");
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &file)) << text;
  Built b;
  b.pool = std::make_unique<google::protobuf::DescriptorPool>(
      google::protobuf::DescriptorPool::generated_pool());  // imports resolve there
  EXPECT_NE(b.pool->BuildFile(file), nullptr) << text;
  b.table = RouteTable::Build(*b.pool, {"routetabletest.v1.S"});
  return b;
}

TEST(RouteTable, SuccessStatusOptionIsHonouredWhenValid) {
  for (int status : {200, 201, 202, 203, 207, 299}) {
    Built b = BuildWith(absl::StrCat("[iss.options.v1.http_success_status]: ", status), false);
    ASSERT_TRUE(b.table.ok()) << status << ": " << b.table.status();
    ASSERT_EQ(b.table->routes().size(), 1u);
    EXPECT_EQ(b.table->routes()[0].success_status, status);
  }
}

TEST(RouteTable, BadSuccessStatusIsRefusedNamingTheMethod) {
  for (int status : {0, 100, 199, 204, 205, 206, 300, 302, 404, 500, -201}) {
    Built b = BuildWith(absl::StrCat("[iss.options.v1.http_success_status]: ", status), false);
    ASSERT_FALSE(b.table.ok()) << status;
    EXPECT_EQ(b.table.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(b.table.status().message()),
                HasSubstr("routetabletest.v1.S.Make: http_success_status"))
        << status;
  }
  // SSE always opens with 200.
  Built stream = BuildWith("[iss.options.v1.http_success_status]: 201", true);
  ASSERT_FALSE(stream.table.ok());
  EXPECT_THAT(std::string(stream.table.status().message()),
              HasSubstr("routetabletest.v1.S.Make: http_success_status on a server-streaming RPC"));
  // Without the option: 200, streaming or not.
  for (bool streaming : {false, true}) {
    Built plain = BuildWith("", streaming);
    ASSERT_TRUE(plain.table.ok()) << plain.table.status();
    EXPECT_EQ(plain.table->routes()[0].success_status, 200);
  }
}

}  // namespace
}  // namespace iss::gateway
