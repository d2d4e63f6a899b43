// librdkafka's headers: rdkafka_mock.h needs rdkafka.h first.
#include "tests/support/kafka_cluster.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace iss::testing {
namespace {

// Client handles of the fixture only log errors (the mock is chatty at
// start-up and when brokers are taken down on purpose).
void QuietLogger(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  if (level <= 3) fprintf(stderr, "[kafka fixture] %s: %s\n", fac, buf);
}

absl::StatusOr<rd_kafka_t*> NewClient(rd_kafka_type_t type,
                                      std::vector<std::pair<std::string, std::string>> props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  props.emplace_back("log_level", "3");
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return absl::InvalidArgumentError(absl::StrCat("kafka fixture config ", k, ": ", err));
    }
  }
  rd_kafka_conf_set_log_cb(conf, QuietLogger);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof(err));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(absl::StrCat("kafka fixture client: ", err));
  }
  return rk;
}

}  // namespace

struct KafkaCluster::Impl {
  rd_kafka_t* owner = nullptr;  // the handle the mock cluster hangs off
  rd_kafka_mock_cluster_t* mock = nullptr;
  rd_kafka_t* admin = nullptr;  // talks to the cluster for metadata
  int brokers = 1;

  ~Impl() {
    if (admin) rd_kafka_destroy(admin);
    if (mock) rd_kafka_mock_cluster_destroy(mock);
    if (owner) rd_kafka_destroy(owner);
  }

  // Topic -> partition count, as the cluster reports it (includes topics
  // created implicitly by producers).
  absl::StatusOr<std::vector<std::pair<std::string, int>>> Topics(const char* only = nullptr) {
    rd_kafka_topic_t* rkt = only ? rd_kafka_topic_new(admin, only, nullptr) : nullptr;
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(admin, rkt == nullptr, rkt, &md, 10000);
    if (rkt) rd_kafka_topic_destroy(rkt);
    if (err) return absl::UnavailableError(absl::StrCat("metadata: ", rd_kafka_err2str(err)));
    std::vector<std::pair<std::string, int>> out;
    for (int i = 0; i < md->topic_cnt; ++i) {
      if (md->topics[i].err) continue;
      out.emplace_back(md->topics[i].topic, md->topics[i].partition_cnt);
    }
    rd_kafka_metadata_destroy(md);
    return out;
  }
};

absl::StatusOr<std::unique_ptr<KafkaCluster>> KafkaCluster::Start(int brokers) {
  std::unique_ptr<KafkaCluster> cluster(new KafkaCluster());
  cluster->impl_ = std::make_unique<Impl>();
  Impl& impl = *cluster->impl_;
  impl.brokers = brokers;
  // The mock's accepted sockets take this handle's socket options. Without
  // TCP_NODELAY a small response sat behind Nagle until the client's delayed
  // ACK (~40 ms on Linux): a 48 ms stall at the end of every burst. Kafka and
  // Redpanda set TCP_NODELAY on accepted connections, so this is the faithful
  // setting, not a tuning.
  auto owner = NewClient(RD_KAFKA_PRODUCER, {{"socket.nagle.disable", "true"}});
  if (!owner.ok()) return owner.status();
  impl.owner = *owner;
  impl.mock = rd_kafka_mock_cluster_new(impl.owner, brokers);
  if (impl.mock == nullptr) return absl::InternalError("rd_kafka_mock_cluster_new failed");
  cluster->bootstrap_ = rd_kafka_mock_cluster_bootstraps(impl.mock);
  auto admin = NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", cluster->bootstrap_}});
  if (!admin.ok()) return admin.status();
  impl.admin = *admin;
  return cluster;
}

KafkaCluster::~KafkaCluster() = default;

absl::Status KafkaCluster::CreateTopic(const std::string& topic, int partitions, int replication) {
  rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(impl_->mock, topic.c_str(), partitions, replication);
  if (err) {
    return absl::InternalError(absl::StrCat("create topic ", topic, ": ", rd_kafka_err2str(err)));
  }
  return absl::OkStatus();
}

absl::Status KafkaCluster::SetBrokerDown(int32_t broker_id) {
  // The mock does not move leadership away from a down broker, and a
  // partition led elsewhere would keep working: lead everything from here.
  auto topics = impl_->Topics();
  if (!topics.ok()) return topics.status();
  for (const auto& [topic, partitions] : *topics) {
    for (int p = 0; p < partitions; ++p) {
      rd_kafka_resp_err_t err =
          rd_kafka_mock_partition_set_leader(impl_->mock, topic.c_str(), p, broker_id);
      if (err) {
        return absl::InternalError(
            absl::StrCat("set leader ", topic, "/", p, ": ", rd_kafka_err2str(err)));
      }
    }
  }
  // A broker taken down closes its listener and binds the same port when it
  // comes back (librdkafka aborts if it cannot). Tests no longer pick ports
  // (children bind port 0, tests/support/process.h), so no fixture can hand
  // that port out meanwhile; only the kernel's own choice of a free port for
  // some other bind could land on it, as for any process on the machine.
  rd_kafka_resp_err_t err = rd_kafka_mock_broker_set_down(impl_->mock, broker_id);
  if (err) return absl::InternalError(absl::StrCat("broker down: ", rd_kafka_err2str(err)));
  return absl::OkStatus();
}

absl::Status KafkaCluster::SetBrokerUp(int32_t broker_id) {
  rd_kafka_resp_err_t err = rd_kafka_mock_broker_set_up(impl_->mock, broker_id);
  if (err) return absl::InternalError(absl::StrCat("broker up: ", rd_kafka_err2str(err)));
  return absl::OkStatus();
}

void KafkaCluster::PushRequestErrors(int16_t api_key, int error, int count) {
  std::vector<rd_kafka_resp_err_t> errors(count, static_cast<rd_kafka_resp_err_t>(error));
  rd_kafka_mock_push_request_errors_array(impl_->mock, api_key, errors.size(), errors.data());
}

std::vector<KafkaCluster::Record> KafkaCluster::ReadAll(const std::string& topic, size_t expected,
                                                        absl::Duration timeout) {
  std::vector<Record> records;
  const absl::Time deadline = absl::Now() + timeout;
  auto topics = impl_->Topics(topic.c_str());
  if (!topics.ok() || topics->empty()) {
    fprintf(stderr, "[kafka fixture] ReadAll: topic %s unknown\n", topic.c_str());
    return records;
  }
  const int partitions = topics->front().second;
  // A plain consumer with a manual assignment: no group join, no commits.
  auto consumer = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap_},
                                                {"group.id", "iss-fixture-readall"},
                                                {"enable.auto.commit", "false"},
                                                {"enable.auto.offset.store", "false"}});
  if (!consumer.ok()) {
    fprintf(stderr, "[kafka fixture] ReadAll: %s\n", consumer.status().ToString().c_str());
    return records;
  }
  rd_kafka_t* rk = *consumer;
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  while (records.size() < expected && absl::Now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    if (!m->err) {
      Record r{m->partition,
               m->offset,
               m->key ? std::string(static_cast<const char*>(m->key), m->key_len) : "",
               m->payload ? std::string(static_cast<const char*>(m->payload), m->len) : "",
               {}};
      rd_kafka_headers_t* hdrs = nullptr;
      if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        for (size_t i = 0;
             rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          r.headers.emplace_back(
              name, value ? std::string(static_cast<const char*>(value), size) : std::string());
        }
      }
      records.push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return records;
}

}  // namespace iss::testing
