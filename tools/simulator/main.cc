// iss-simulator: an offline ISSLIVE. A TLCP (Lightstreamer) server on a
// WebSocket that serves the catalog items from a seedable scenario, so the
// platform runs and is tested without the internet.
//
//   config -> scenario -> TLCP server -> ops server (/healthz, /readyz, /metrics)
#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/address_file.h"
#include "common/config.h"
#include "common/health.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/ops_server.h"
#include "common/runtime.h"
#include "common/shutdown.h"
#include "tools/simulator/scenario.h"
#include "tools/simulator/server.h"
#include "tools/simulator/sim_metrics.h"

int main(int argc, char** argv) {
  using namespace iss;
  InstallShutdownSignals();

  // --- config (a developer tool: declared here, not in a config file) ---------
  sim::SimulatorOptions options;
  std::string scenario_path, ops_addr = "127.0.0.1:9108", log_level = "info", address_file;
  int64_t seed = -1;
  EnvConfig cfg("simulator");
  cfg.BindAddress(&options.address, "ISS_SIM_ADDR", "TLCP WebSocket listen address");
  cfg.Bind(&scenario_path, "ISS_SIM_SCENARIO",
           "Scenario JSON file (empty = the built-in scenario)");
  cfg.Bind(&seed, "ISS_SIM_SEED", -1, int64_t{1} << 53, "Random seed; -1 = the scenario's");
  cfg.Bind(&options.speed, "ISS_SIM_SPEED", 0.001, 100000.0,
           "Scenario seconds per real second (100: 1 s of scenario = 10 ms)");
  cfg.Bind(&options.rate, "ISS_SIM_RATE", -1, 10000000.0,
           "Background updates per second over all items; -1 = the scenario's");
  cfg.BindAddress(&ops_addr, "ISS_SIM_OPS_ADDR", "/healthz, /readyz, /metrics address");
  BindAddressFile(cfg, &address_file);
  cfg.BindEnum(&log_level, "ISS_LOG_LEVEL", {"debug", "info", "warn", "error"},
               "Minimum log level");
  cfg.LoadOrExit(argc, argv);
  log::Init("simulator", log::Level::kInfo);
  (void)log::SetLevel(log_level);
  for (const auto& [name, value] : cfg.Effective()) log::Info("config", {{name, value}});

  // --- scenario ---------------------------------------------------------------
  sim::Scenario scenario = sim::DefaultScenario();
  if (!scenario_path.empty()) {
    auto loaded = sim::LoadScenario(scenario_path);
    if (!loaded.ok()) {
      std::cerr << loaded.status().message() << "\n";
      return 2;
    }
    scenario = *std::move(loaded);
  }
  if (seed >= 0) scenario.seed = static_cast<uint64_t>(seed);

  // --- TLCP server --------------------------------------------------------------
  Health health;
  health.Declare("tlcp_listener");
  auto simulator = sim::Simulator::Start(scenario, options);
  if (!simulator.ok()) Fail("simulator failed to start", simulator.status());
  health.Set("tlcp_listener", true, absl::StrCat("port ", (*simulator)->port()));

  // --- ops server -------------------------------------------------------------
  auto ops = OpsServer::Start(ops_addr, &health);
  if (!ops.ok()) Fail("ops server failed to start", ops.status());
  WriteAddressFileOrExit(address_file, {{"tlcp", options.address, (*simulator)->port()},
                                        {"ops", ops_addr, (*ops)->port()}});
  log::Info("simulator ready", {{"port", (*simulator)->port()},
                                {"ops_port", (*ops)->port()},
                                {"seed", static_cast<int64_t>(scenario.seed)},
                                {"speed", options.speed}});

  sim::SimMetrics metrics;
  while (!WaitForShutdownFor(absl::Seconds(1))) metrics.Update((*simulator)->stats());

  health.SetShuttingDown();
  (*simulator)->Stop();
  log::Info("simulator stopped");
  return 0;
}
