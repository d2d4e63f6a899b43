// Owns: the whole platform on loopback for end-to-end and fault tests: a
// fresh PostgreSQL database (migrated by the real iss-migrate), the mock Kafka
// cluster in this process, the fake X server in this process, and the real
// iss-storage, iss-peebot, iss-ingestion and iss-gateway binaries as child
// processes with their environment. The ISSLIVE simulator runs in-process
// (it is the fake ISSLIVE) with `record` on, so a test knows exactly what the
// feed sent. Also: REST helpers that read what the gateway serves, and an SSE
// tail reader that timestamps each event as it becomes visible.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/peebot/testing/fake_bluesky_server.h"
#include "services/peebot/testing/fake_mastodon_server.h"
#include "services/peebot/testing/fake_webhook_receiver.h"
#include "services/peebot/testing/fake_x_server.h"
#include "tests/support/kafka_cluster.h"
#include "tests/support/process.h"
#include "tools/simulator/server.h"

namespace iss::e2e {

// One stored event as the gateway's REST API returns it.
struct RestEvent {
  std::string event_id;
  std::string item_id;
  std::string value;  // "" when null
  bool has_value = false;
  absl::Time source_ts;
  absl::Time ingest_ts;
  absl::Time received_ts = absl::InfinitePast();  // unset: InfinitePast
};

// Reads GET /api/v1/telemetry:tail (Server-Sent Events) on its own thread and
// records when each event_id first arrived.
class SseTail {
 public:
  static absl::StatusOr<std::unique_ptr<SseTail>> Open(int port, const std::string& target);
  ~SseTail();
  std::map<std::string, absl::Time> arrivals() const;
  size_t count() const;
  // Per arrival: (arrival - source_ts, arrival - ingest_ts).
  std::vector<std::pair<absl::Duration, absl::Duration>> latencies() const;
  // How often the stream ended and was opened again (a reader the server
  // dropped for falling behind, or a restart).
  uint64_t reconnects() const { return reconnects_.load(); }

 private:
  SseTail() = default;
  absl::Status Connect();
  void Run();
  void ReadStream();
  int port_ = 0;
  std::string target_;
  std::atomic<int> fd_{-1};
  std::atomic<uint64_t> reconnects_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::map<std::string, absl::Time> arrivals_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<absl::Duration, absl::Duration>> latencies_ ABSL_GUARDED_BY(mu_);
};

struct PlatformOptions {
  std::vector<std::string> items;  // served by the simulator and subscribed by ingestion
  sim::Scenario scenario;
  double speed = 1.0;
  bool start_peebot = true;
  // Pee-Bot posts to fake Bluesky, Mastodon and webhook receivers beside X
  // (ISS_PEEBOT_DESTINATIONS=x,bluesky,mastodon,webhook).
  bool social_destinations = false;
  bool start_gateway = true;
  bool record = true;       // the simulator keeps every update sent (Sent())
  int brokers = 1;          // mock cluster size
  std::string tag = "e2e";  // names the child logs: /tmp/iss-<tag>-<service>.log
  std::map<std::string, std::string> storage_env;  // extra/overriding variables
  std::map<std::string, std::string> ingestion_env;
  std::map<std::string, std::string> peebot_env;
};

// Pee-Bot's admin token in the platform (its admin RPCs through the gateway).
inline constexpr char kPlatformAdminToken[] = "e2e-admin-token";
// The Standard Webhooks secret Pee-Bot signs with and the receiver verifies.
inline constexpr char kPlatformWebhookSecret[] = "whsec_ZTJlLXdlYmhvb2stc2VjcmV0LWtleQ==";

class Platform {
 public:
  // Starts everything but the simulator and ingestion (so a test can attach
  // observers first); waits until each service is ready and storage owns its
  // partitions.
  static absl::StatusOr<std::unique_ptr<Platform>> Start(PlatformOptions options);
  ~Platform();

  // Starts the simulator (epoch = now) and ingestion connected to it.
  absl::Status StartFeed();
  // Stops the simulator: after this, simulator().Sent() is final.
  void StopSimulator();
  // Instead of the feed: ingestion replays `path` (a recording: file or
  // directory) at `speed` (0 = as fast as possible). `session_epoch` is when
  // the recorded session began: QueryAll's window starts an hour before it.
  absl::Status StartReplay(const std::string& path, double speed, absl::Time session_epoch);

  sim::Simulator& simulator() { return *simulator_; }
  testing::KafkaCluster& cluster() { return *cluster_; }
  peebot::testing::FakeXServer& fake_x() { return *fake_x_; }
  // With social_destinations only.
  peebot::testing::FakeBlueskyServer& fake_bluesky() { return *fake_bluesky_; }
  peebot::testing::FakeMastodonServer& fake_mastodon() { return *fake_mastodon_; }
  peebot::testing::FakeWebhookReceiver& fake_webhook() { return *fake_webhook_; }
  testing::ChildProcess& storage() { return *storage_; }
  testing::ChildProcess* peebot() { return peebot_.get(); }
  testing::ChildProcess* ingestion() { return ingestion_.get(); }
  testing::ChildProcess* gateway() { return gateway_.get(); }
  int ingestion_ops_port() const { return ingest_ops_; }
  int ingestion_grpc_port() const { return ingest_grpc_; }
  int storage_grpc_port() const { return storage_grpc_; }
  int peebot_grpc_port() const { return peebot_grpc_; }
  int gateway_port() const { return gateway_http_; }
  int storage_ops_port() const { return storage_ops_; }
  const std::string& dsn() const { return dsn_; }
  absl::Time epoch() const { return epoch_; }

  // Every stored event of `items` through GET /api/v1/telemetry:window
  // (all pages, ascending source_ts).
  absl::StatusOr<std::vector<RestEvent>> QueryAll(const std::vector<std::string>& items);
  // GET through the gateway, returning the parsed JSON body as text.
  absl::StatusOr<std::string> Get(const std::string& target);

  // Rows and distinct event_ids in the telemetry table, straight from PostgreSQL.
  struct Counts {
    int64_t rows = 0;
    int64_t distinct_ids = 0;
  };
  absl::StatusOr<Counts> CountInDb();

  // Logs of all children, for failure messages.
  std::string Logs() const;

 private:
  Platform() = default;
  // Ingestion with `env`, on the gRPC port held for it; waits for its ports.
  absl::Status StartIngestion(std::map<std::string, std::string> env);
  PlatformOptions options_;
  std::string dsn_;
  absl::Time epoch_;
  std::unique_ptr<testing::KafkaCluster> cluster_;
  std::unique_ptr<peebot::testing::FakeXServer> fake_x_;
  std::unique_ptr<peebot::testing::FakeBlueskyServer> fake_bluesky_;
  std::unique_ptr<peebot::testing::FakeMastodonServer> fake_mastodon_;
  std::unique_ptr<peebot::testing::FakeWebhookReceiver> fake_webhook_;
  std::unique_ptr<sim::Simulator> simulator_;
  std::unique_ptr<testing::ChildProcess> storage_, peebot_, ingestion_, gateway_;
  std::optional<testing::ReservedPort> ingest_grpc_port_;  // held from Start() on
  int storage_grpc_ = 0, storage_ops_ = 0, peebot_grpc_ = 0, peebot_ops_ = 0;
  int ingest_grpc_ = 0, ingest_ops_ = 0, gateway_http_ = 0;
};

// `n` items for a session: the urine tank and processor (Pee-Bot), the
// station clock, and the first catalog items after them.
std::vector<std::string> SessionItems(size_t n);

// The fake X credentials the platform signs with.
peebot::OAuthCredentials FakeXCredentials();

// p-th percentile (0..100) of `v` (sorted copy; nearest rank).
absl::Duration Percentile(std::vector<absl::Duration> v, double p);

}  // namespace iss::e2e
