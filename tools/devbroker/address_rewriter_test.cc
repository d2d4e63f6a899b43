// AddressRewriter on hand-built Kafka frames: Metadata and FindCoordinator
// answers name the advertised addresses, everything else passes byte for byte,
// frames split anywhere are reassembled, and what cannot be rewritten is refused.
#include "tools/devbroker/address_rewriter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>

namespace iss::devbroker {
namespace {

using ::testing::HasSubstr;

// Kafka's big-endian primitives.
struct Bytes {
  std::string s;
  Bytes& i16(int v) {
    s.push_back(static_cast<char>((v >> 8) & 0xff));
    s.push_back(static_cast<char>(v & 0xff));
    return *this;
  }
  Bytes& i32(int64_t v) {
    for (int shift = 24; shift >= 0; shift -= 8)
      s.push_back(static_cast<char>((v >> shift) & 0xff));
    return *this;
  }
  Bytes& str(std::optional<std::string> v) {
    if (!v) return i16(-1);
    i16(static_cast<int>(v->size()));
    s += *v;
    return *this;
  }
  Bytes& raw(const std::string& v) {
    s += v;
    return *this;
  }
  std::string Framed() const { return Bytes().i32(static_cast<int64_t>(s.size())).s + s; }
};

std::string Request(int api_key, int version, int correlation) {
  return Bytes().i16(api_key).i16(version).i32(correlation).str("client").raw("body").Framed();
}

class AddressRewriterTest : public ::testing::Test {
 protected:
  AddressRewriterTest()
      : rewriter_(std::make_shared<AdvertisedBrokers>(
            AdvertisedBrokers{{1, {"redpanda", 9092}}, {2, {"redpanda", 9093}}})) {}

  // Sends the request; returns what reaches the client for `response`.
  std::string RoundTrip(const std::string& request, const std::string& response) {
    std::string to_broker, to_client;
    EXPECT_TRUE(rewriter_.FromClient(request, &to_broker).ok());
    EXPECT_EQ(to_broker, request) << "requests pass unchanged";
    EXPECT_TRUE(rewriter_.FromBroker(response, &to_client).ok());
    return to_client;
  }

  AddressRewriter rewriter_;
};

// Metadata v1/v2 broker list: node, host, port, rack.
Bytes Brokers(const std::string& host1, int port1, const std::string& host2, int port2) {
  return Bytes()
      .i32(2)
      .i32(1)
      .str(host1)
      .i32(port1)
      .str(std::nullopt)
      .i32(2)
      .str(host2)
      .i32(port2)
      .str("rack-b");
}

TEST_F(AddressRewriterTest, MetadataV2NamesTheAdvertisedBrokers) {
  const std::string tail =
      Bytes().str("cluster-id").i32(1).i32(0).s;  // cluster, controller, topics
  const std::string answer =
      Bytes().i32(7).raw(Brokers("127.0.0.1", 40001, "127.0.0.1", 40002).s + tail).Framed();
  const std::string want =
      Bytes().i32(7).raw(Brokers("redpanda", 9092, "redpanda", 9093).s + tail).Framed();
  EXPECT_EQ(RoundTrip(Request(3, 2, 7), answer), want);
}

TEST_F(AddressRewriterTest, MetadataV0HasNoRack) {
  const std::string answer =
      Bytes().i32(8).i32(1).i32(2).str("127.0.0.1").i32(40002).i32(0).Framed();
  const std::string want = Bytes().i32(8).i32(1).i32(2).str("redpanda").i32(9093).i32(0).Framed();
  EXPECT_EQ(RoundTrip(Request(3, 0, 8), answer), want);
}

TEST_F(AddressRewriterTest, FindCoordinatorV0AndV1NameTheAdvertisedBroker) {
  EXPECT_EQ(RoundTrip(Request(10, 0, 9),
                      Bytes().i32(9).i16(0).i32(2).str("127.0.0.1").i32(40002).Framed()),
            Bytes().i32(9).i16(0).i32(2).str("redpanda").i32(9093).Framed());
  EXPECT_EQ(
      RoundTrip(Request(10, 1, 10), Bytes()
                                        .i32(10)
                                        .i32(0)
                                        .i16(0)
                                        .str(std::nullopt)
                                        .i32(1)
                                        .str("127.0.0.1")
                                        .i32(40001)
                                        .Framed()),
      Bytes().i32(10).i32(0).i16(0).str(std::nullopt).i32(1).str("redpanda").i32(9092).Framed());
}

TEST_F(AddressRewriterTest, AnErrorAnswerWithNoBrokerIsLeftAsItIs) {
  const std::string answer = Bytes()
                                 .i32(11)
                                 .i32(0)
                                 .i16(15)
                                 .str("COORDINATOR_NOT_AVAILABLE")
                                 .i32(-1)
                                 .str("")
                                 .i32(-1)
                                 .Framed();
  EXPECT_EQ(RoundTrip(Request(10, 2, 11), answer), answer);
}

TEST_F(AddressRewriterTest, OtherAnswersPassByteForByte) {
  const std::string produce = Bytes().i32(12).raw(std::string("\x00\x01\x02\xff", 4)).Framed();
  EXPECT_EQ(RoundTrip(Request(0, 7, 12), produce), produce);
  // An answer with the correlation id of a Produce is not taken for Metadata.
  EXPECT_EQ(RoundTrip(Request(0, 7, 13), Bytes().i32(13).i32(1).Framed()),
            Bytes().i32(13).i32(1).Framed());
}

TEST_F(AddressRewriterTest, FramesSplitAnywhereAreReassembled) {
  const std::string requests = Request(18, 2, 1) + Request(3, 1, 2);
  const std::string answers =
      Bytes().i32(1).raw("api-versions").Framed() +
      Bytes().i32(2).raw(Brokers("127.0.0.1", 1, "127.0.0.1", 2).s).i32(1).i32(0).Framed();
  std::string to_broker, to_client;
  for (char c : requests) ASSERT_TRUE(rewriter_.FromClient(std::string(1, c), &to_broker).ok());
  EXPECT_EQ(to_broker, requests);
  for (char c : answers) ASSERT_TRUE(rewriter_.FromBroker(std::string(1, c), &to_client).ok());
  EXPECT_EQ(
      to_client,
      Bytes().i32(1).raw("api-versions").Framed() +
          Bytes().i32(2).raw(Brokers("redpanda", 9092, "redpanda", 9093).s).i32(1).i32(0).Framed());
}

TEST_F(AddressRewriterTest, NewerVersionsAreRefusedNotPassedOn) {
  std::string out;
  const absl::Status s = rewriter_.FromClient(Request(3, 9, 1), &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(s.message()), HasSubstr("API 3 v9"));
  EXPECT_TRUE(out.empty());
}

TEST_F(AddressRewriterTest, TruncatedOrHugeFramesAreErrors) {
  std::string out;
  ASSERT_TRUE(rewriter_.FromClient(Request(3, 1, 5), &out).ok());
  // A Metadata answer that claims two brokers and holds one.
  const std::string short_answer =
      Bytes().i32(5).i32(2).i32(1).str("127.0.0.1").i32(1).str(std::nullopt).Framed();
  EXPECT_EQ(rewriter_.FromBroker(short_answer, &out).code(), absl::StatusCode::kInvalidArgument);

  AddressRewriter fresh(std::make_shared<AdvertisedBrokers>());
  EXPECT_EQ(fresh.FromBroker(Bytes().i32(-5).s, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fresh.FromClient(Bytes().i32(int64_t{1} << 30).s, &out).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace iss::devbroker
