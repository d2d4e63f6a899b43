// Owns: a TCP relay from a fixed listen address to a target address, one
// thread per connection. Bytes are copied unchanged in both directions, or,
// given advertised broker addresses, passed frame by frame through an
// AddressRewriter so that clients learn those instead of the mock's own.
//
// Why: librdkafka's mock cluster (librdkafka 2.0.2) listens on ephemeral
// loopback ports only. Clients bootstrap through this fixed address, then
// follow the metadata: to the mock brokers' own ports (same host), or to one
// relay per broker when addresses are advertised (clients on other hosts).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "tools/devbroker/address_rewriter.h"

namespace iss::devbroker {

class TcpForwarder {
 public:
  // `listen` and `target` are "host:port" (IPv4 literal or a resolvable
  // name); listen port 0 picks a free one.
  static absl::StatusOr<std::unique_ptr<TcpForwarder>> Start(const std::string& listen,
                                                             const std::string& target);
  // Two steps, for relays that must know each other's ports before any client
  // connects: bind (the port is known from here on), then relay to `target`,
  // rewriting broker addresses when `advertised` is given.
  static absl::StatusOr<std::unique_ptr<TcpForwarder>> Listen(const std::string& listen);
  absl::Status Serve(const std::string& target,
                     std::shared_ptr<const AdvertisedBrokers> advertised = nullptr);
  ~TcpForwarder();  // closes the listener and every relayed connection

  int port() const { return port_; }
  int64_t connections() const { return connections_.load(); }

 private:
  TcpForwarder() = default;
  void AcceptLoop();
  void Relay(int client, int upstream);

  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // written on shutdown; every poll() watches it
  int port_ = 0;
  std::string target_;
  std::shared_ptr<const AdvertisedBrokers> advertised_;
  std::atomic<int64_t> connections_{0};
  std::thread acceptor_;
  // Relay threads are detached (a long dev session sees many connections);
  // the destructor waits until none is left.
  absl::Mutex mu_;
  int active_relays_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace iss::devbroker
