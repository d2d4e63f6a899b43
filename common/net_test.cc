#include "common/net.h"

#include <gtest/gtest.h>

#include "common/endpoint.h"

namespace iss::net {
namespace {

TEST(ParseHostPort, AcceptsNamesIpv4AndBracketedIpv6) {
  EXPECT_EQ(*ParseHostPort("push.lightstreamer.com:443"),
            (HostPort{"push.lightstreamer.com", 443}));
  EXPECT_EQ(*ParseHostPort("127.0.0.1:0"), (HostPort{"127.0.0.1", 0}));
  EXPECT_EQ(*ParseHostPort("[::1]:8080"), (HostPort{"::1", 8080}));
  EXPECT_EQ(*ParseHostPort("0.0.0.0:65535"), (HostPort{"0.0.0.0", 65535}));
}

TEST(ParseHostPort, RefusesWhatIsNotOneHostAndOnePort) {
  for (const char* bad :
       {"", "host", ":80", "host:", "host:65536", "host:-1", "host:+80", "host:8 0", "::1:80",
        "[::1]80", "[]:80", "[::1:80", "host]:80", "host:99999999999999999999"}) {
    const auto parsed = ParseHostPort(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
      EXPECT_NE(parsed.status().message().find("host:port"), std::string::npos) << bad;
    }
  }
}

TEST(HostPort, PrintsBackTheTextItWasParsedFrom) {
  for (const char* text : {"example.org:443", "10.1.2.3:9", "[::1]:50051", "[fe80::2]:1"}) {
    EXPECT_EQ(ParseHostPort(text)->ToString(), text);
  }
}

TEST(ListenEndpoint, BindsOnlyIpLiterals) {
  EXPECT_EQ(ListenEndpoint("127.0.0.1:8080")->port(), 8080);
  EXPECT_TRUE(ListenEndpoint("[::]:0")->address().is_v6());
  const auto named = ListenEndpoint("localhost:80");
  ASSERT_FALSE(named.ok());
  EXPECT_NE(named.status().message().find("must be an IP address"), std::string::npos);
  const auto no_port = ListenEndpoint("127.0.0.1");
  ASSERT_FALSE(no_port.ok());
  EXPECT_NE(no_port.status().message().find("listen address \"127.0.0.1\": expected host:port"),
            std::string::npos)
      << no_port.status().message();
}

}  // namespace
}  // namespace iss::net
