// Owns: the simulator's Prometheus series, mirrored from its own counters
// (SimulatorStats) once a second by iss-simulator's main loop.
#pragma once

#include <cstdint>

#include "common/metrics.h"
#include "tools/simulator/server.h"

namespace iss::sim {

// Counters only move up: each Update adds what moved since the last one.
class SimMetrics {
 public:
  void Update(const SimulatorStats& s) {
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
  SimulatorStats last_;
};

}  // namespace iss::sim
