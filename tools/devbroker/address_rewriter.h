// Owns: the broker addresses a Kafka client sees through one relayed
// connection. Requests pass unchanged; in the responses that name brokers
// (Metadata and FindCoordinator) each mock broker's loopback address is
// replaced by the address advertised for its node id.
//
// Why: librdkafka 2.0.2's mock brokers listen on 127.0.0.1 only and name that
// address in their metadata, so a client on another host (another container)
// would follow it to its own loopback. With the relays in front and these
// rewrites, clients only ever see "<advertised host>:<relay port>".
//
// Versions: Metadata v0-v2 and FindCoordinator v0-v2, the ones the mock
// cluster offers in its ApiVersions answer (clients never ask for more).
// Anything else naming brokers at a newer version is an error, never passed on
// with a loopback address in it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"

namespace iss::devbroker {

struct AdvertisedAddress {
  std::string host;
  int32_t port = 0;
};
// Mock broker node id -> the address clients are told.
using AdvertisedBrokers = absl::flat_hash_map<int32_t, AdvertisedAddress>;

class AddressRewriter {
 public:
  // Frames larger than this are refused (a garbled length, not a message).
  static constexpr size_t kMaxFrameBytes = 256u << 20;

  explicit AddressRewriter(std::shared_ptr<const AdvertisedBrokers> brokers)
      : brokers_(std::move(brokers)) {}

  // Client -> broker bytes: appends every request frame completed so far to
  // *out, unchanged, noting the ones whose answers must be rewritten.
  absl::Status FromClient(std::string_view bytes, std::string* out);
  // Broker -> client bytes: appends every response frame completed so far to
  // *out, with the broker addresses rewritten where the request asked for them.
  absl::Status FromBroker(std::string_view bytes, std::string* out);

 private:
  absl::Status Rewrite(int16_t api_key, int16_t version, std::string_view frame, std::string* out);

  std::shared_ptr<const AdvertisedBrokers> brokers_;
  std::string from_client_, from_broker_;  // partial frames
  // Correlation id -> (api key, version) of requests whose answers name brokers.
  absl::flat_hash_map<int32_t, std::pair<int16_t, int16_t>> pending_;
};

}  // namespace iss::devbroker
