// The ops HTTP endpoint over a real socket.
#include <utility>  // before Asio

#include "common/ops_server.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "common/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iss {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Sends one raw request with "Connection: close" and returns the whole reply.
std::string Raw(int port, const std::string& request) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket sock(io);
  sock.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)});
  boost::asio::write(sock, boost::asio::buffer(request));
  std::string reply;
  boost::system::error_code ec;
  boost::asio::read(sock, boost::asio::dynamic_buffer(reply), ec);  // until close
  return reply;
}

std::string Get(int port, const std::string& path) {
  return Raw(port, "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

TEST(OpsServer, HealthReadinessMetricsAndErrors) {
  Health health;
  health.Declare("db");
  metrics::Counter("iss_ops_test_total", "Test counter.").Increment(3);
  auto server = OpsServer::Start("127.0.0.1:0", &health);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();

  EXPECT_THAT(Get(port, "/healthz"), StartsWith("HTTP/1.1 200"));
  const std::string not_ready = Get(port, "/readyz");
  EXPECT_THAT(not_ready, StartsWith("HTTP/1.1 503"));
  EXPECT_THAT(not_ready, HasSubstr("\"name\":\"db\",\"up\":false"));
  health.Set("db", true);
  EXPECT_THAT(Get(port, "/readyz"), StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(Get(port, "/metrics"), HasSubstr("iss_ops_test_total 3"));
  EXPECT_THAT(Get(port, "/nope"), StartsWith("HTTP/1.1 404"));
  EXPECT_THAT(Raw(port,
                  "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                  "Connection: close\r\n\r\nhi"),
              StartsWith("HTTP/1.1 4"));
  EXPECT_THAT(Raw(port, "garbage\r\n\r\n"), StartsWith("HTTP/1.1 400"));
}

TEST(OpsServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  Health health;
  auto server = OpsServer::Start("127.0.0.1:0", &health);
  ASSERT_TRUE(server.ok());
  const std::string two = Raw((*server)->port(),
                              "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(two.find("HTTP/1.1 200"), 0u);
  EXPECT_NE(two.find("HTTP/1.1 200", 10), std::string::npos);
}

TEST(OpsServer, BadAddressesAreClearErrors) {
  Health health;
  EXPECT_EQ(OpsServer::Start("nonsense", &health).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpsServer::Start("localhost:1", &health).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto first = OpsServer::Start("127.0.0.1:0", &health);
  ASSERT_TRUE(first.ok());
  auto clash = OpsServer::Start("127.0.0.1:" + std::to_string((*first)->port()), &health);
  EXPECT_EQ(clash.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace iss
