// librdkafka's headers: rdkafka_mock.h needs rdkafka.h first.
#include "tools/devbroker/dev_broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/net.h"
#include "tools/devbroker/forwarder.h"

namespace iss::devbroker {
namespace {

void LogCallback(const rd_kafka_t*, int level, const char* facility, const char* buf) {
  if (level <= 4) log::Warn("mock cluster", {{"facility", facility}, {"detail", buf}});
}

}  // namespace

struct DevBroker::Impl {
  rd_kafka_t* owner = nullptr;  // the mock cluster hangs off a client handle
  rd_kafka_mock_cluster_t* mock = nullptr;
  std::vector<std::unique_ptr<TcpForwarder>> forwarders;

  ~Impl() {
    forwarders.clear();  // no new traffic first
    if (mock) rd_kafka_mock_cluster_destroy(mock);
    if (owner) rd_kafka_destroy(owner);
  }
};

absl::StatusOr<std::unique_ptr<DevBroker>> DevBroker::Start(const DevBrokerOptions& options) {
  if (options.brokers < 1) return absl::InvalidArgumentError("need at least one broker");
  std::unique_ptr<DevBroker> broker(new DevBroker());
  broker->impl_ = std::make_unique<Impl>();
  Impl& impl = *broker->impl_;

  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, LogCallback);
  char err[512];
  // The mock's accepted sockets take the owner's socket options: TCP_NODELAY,
  // as Kafka and Redpanda set on theirs. Without it a small response waits
  // behind Nagle for the client's delayed ACK (~40 ms).
  if (rd_kafka_conf_set(conf, "socket.nagle.disable", "true", err, sizeof(err)) !=
      RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(absl::StrCat("mock cluster owner: ", err));
  }
  impl.owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (impl.owner == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(absl::StrCat("mock cluster owner: ", err));
  }
  impl.mock = rd_kafka_mock_cluster_new(impl.owner, options.brokers);
  if (impl.mock == nullptr) return absl::InternalError("rd_kafka_mock_cluster_new failed");
  broker->mock_bootstrap_ = rd_kafka_mock_cluster_bootstraps(impl.mock);

  for (const TopicSpec& t : options.topics) {
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(impl.mock, t.name.c_str(), t.partitions,
                                                       std::min(options.brokers, 3));
    if (e) {
      return absl::InternalError(absl::StrCat("create topic ", t.name, ": ", rd_kafka_err2str(e)));
    }
  }

  const absl::StatusOr<net::HostPort> listen = net::ParseHostPort(options.address);
  if (!listen.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", options.address, "\": ", listen.status().message()));
  }
  if (options.advertise_host.empty()) {
    // Bootstrap through the fixed address; the metadata then points clients at
    // the first mock broker's own port.
    const std::string first_broker =
        broker->mock_bootstrap_.substr(0, broker->mock_bootstrap_.find(','));
    auto forwarder = TcpForwarder::Start(options.address, first_broker);
    if (!forwarder.ok()) return forwarder.status();
    impl.forwarders.push_back(std::move(*forwarder));
    broker->bootstrap_ =
        net::HostPort{listen->host, static_cast<uint16_t>(impl.forwarders[0]->port())}.ToString();
    return broker;
  }

  // One relay per mock broker, all bound before any serves, so that the first
  // answer already names every broker by its advertised address.
  const std::vector<std::string> mocks = absl::StrSplit(broker->mock_bootstrap_, ',');
  const int first_port = listen->port;
  auto advertised = std::make_shared<AdvertisedBrokers>();
  for (size_t i = 0; i < mocks.size(); ++i) {
    const int port = first_port == 0 ? 0 : first_port + static_cast<int>(i);
    auto relay =
        TcpForwarder::Listen(net::HostPort{listen->host, static_cast<uint16_t>(port)}.ToString());
    if (!relay.ok()) return relay.status();
    // The mock numbers its brokers 1..N in the order it lists them.
    (*advertised)[static_cast<int32_t>(i + 1)] = {options.advertise_host, (*relay)->port()};
    impl.forwarders.push_back(std::move(*relay));
  }
  for (size_t i = 0; i < mocks.size(); ++i) {
    if (absl::Status s = impl.forwarders[i]->Serve(mocks[i], advertised); !s.ok()) return s;
  }
  broker->bootstrap_ = absl::StrCat(options.advertise_host, ":", impl.forwarders[0]->port());
  return broker;
}

DevBroker::~DevBroker() = default;

int64_t DevBroker::connections() const {
  int64_t n = 0;
  for (const auto& f : impl_->forwarders) n += f->connections();
  return n;
}

}  // namespace iss::devbroker
