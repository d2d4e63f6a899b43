// iss-simulator: an offline ISSLIVE. A TLCP (Lightstreamer) server on a
// WebSocket that serves the catalog items from a seedable scenario, so the
// platform runs and is tested without the internet.
//
//   config -> scenario -> TLCP server -> ops server (/healthz, /readyz, /metrics)
#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "common/health.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/ops_server.h"
#include "common/runtime.h"
#include "common/shutdown.h"
#include "tools/simulator/scenario.h"
#include "tools/simulator/server.h"

namespace {

using iss::Fail;

// Mirrors the simulator's counters into Prometheus (counters only move up).
class SimMetrics {
 public:
  void Update(const iss::sim::SimulatorStats& s) {
    Advance(updates_, s.updates_sent, last_.updates_sent);
    Advance(probes_, s.probes_sent, last_.probes_sent);
    Advance(connections_, s.connections, last_.connections);
    Advance(sessions_, s.sessions_created, last_.sessions_created);
    Advance(faults_, s.faults, last_.faults);
    Advance(rejected_, s.rejected, last_.rejected);
    Advance(skipped_, s.updates_skipped, last_.updates_skipped);
    live_connections_.Set(s.live_connections);
    live_sessions_.Set(s.live_sessions);
    last_ = s;
  }

 private:
  static void Advance(prometheus::Counter& c, uint64_t now, uint64_t before) {
    if (now > before) c.Increment(static_cast<double>(now - before));
  }
  prometheus::Counter& updates_ =
      iss::metrics::Counter("iss_sim_updates_sent_total", "U lines sent to clients");
  prometheus::Counter& probes_ = iss::metrics::Counter("iss_sim_probes_sent_total", "PROBEs sent");
  prometheus::Counter& connections_ =
      iss::metrics::Counter("iss_sim_connections_total", "WebSocket connections accepted");
  prometheus::Counter& sessions_ =
      iss::metrics::Counter("iss_sim_sessions_created_total", "TLCP sessions created");
  prometheus::Counter& faults_ = iss::metrics::Counter("iss_sim_faults_total", "Faults injected");
  prometheus::Counter& rejected_ =
      iss::metrics::Counter("iss_sim_rejected_total", "Refused handshakes and requests");
  prometheus::Counter& skipped_ = iss::metrics::Counter(
      "iss_sim_updates_skipped_total", "Background updates dropped because the server fell behind");
  prometheus::Gauge& live_connections_ =
      iss::metrics::Gauge("iss_sim_connections", "Open WebSocket connections");
  prometheus::Gauge& live_sessions_ = iss::metrics::Gauge("iss_sim_sessions", "Live TLCP sessions");
  iss::sim::SimulatorStats last_;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace iss;
  InstallShutdownSignals();

  EnvConfig cfg("simulator");
  const auto* addr = cfg.Address("ISS_SIM_ADDR", "127.0.0.1:8088", "TLCP WebSocket listen address");
  const auto* scenario_path =
      cfg.String("ISS_SIM_SCENARIO", "", "Scenario JSON file (empty = the built-in scenario)");
  const auto* seed =
      cfg.Int("ISS_SIM_SEED", -1, -1, (int64_t{1} << 53), "Random seed; -1 = the scenario's");
  const auto* speed = cfg.Double("ISS_SIM_SPEED", 1.0, 0.001, 100000.0,
                                 "Scenario seconds per real second (100: 1 s of scenario = 10 ms)");
  const auto* rate =
      cfg.Double("ISS_SIM_RATE", -1, -1, 10000000.0,
                 "Background updates per second over all items; -1 = the scenario's");
  const auto* ops_addr =
      cfg.Address("ISS_SIM_OPS_ADDR", "127.0.0.1:9108", "/healthz, /readyz, /metrics address");
  const auto* log_level =
      cfg.Enum("ISS_LOG_LEVEL", "info", {"debug", "info", "warn", "error"}, "Minimum log level");
  cfg.LoadOrExit(argc, argv);
  log::Init("simulator", log::Level::kInfo);
  (void)log::SetLevel(*log_level);
  for (const auto& [name, value] : cfg.Effective()) log::Info("config", {{name, value}});

  // --- scenario ---------------------------------------------------------------
  sim::Scenario scenario = sim::DefaultScenario();
  if (!scenario_path->empty()) {
    auto loaded = sim::LoadScenario(*scenario_path);
    if (!loaded.ok()) {
      std::cerr << loaded.status().message() << "\n";
      return 2;
    }
    scenario = *std::move(loaded);
  }
  if (*seed >= 0) scenario.seed = static_cast<uint64_t>(*seed);

  // --- TLCP server --------------------------------------------------------------
  Health health;
  health.Declare("tlcp_listener");
  sim::SimulatorOptions options;
  options.address = *addr;
  options.speed = *speed;
  options.rate = *rate;
  auto simulator = sim::Simulator::Start(scenario, options);
  if (!simulator.ok()) Fail("simulator failed to start", simulator.status());
  health.Set("tlcp_listener", true, absl::StrCat("port ", (*simulator)->port()));

  // --- ops server -------------------------------------------------------------
  auto ops = OpsServer::Start(*ops_addr, &health);
  if (!ops.ok()) Fail("ops server failed to start", ops.status());
  log::Info("simulator ready", {{"port", (*simulator)->port()},
                                {"ops_port", (*ops)->port()},
                                {"seed", static_cast<int64_t>(scenario.seed)},
                                {"speed", *speed}});

  SimMetrics metrics;
  while (!WaitForShutdownFor(absl::Seconds(1))) metrics.Update((*simulator)->stats());

  health.SetShuttingDown();
  (*simulator)->Stop();
  log::Info("simulator stopped");
  return 0;
}
