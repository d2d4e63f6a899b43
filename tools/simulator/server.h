// Owns: the ISSLIVE simulator's TLCP server: a Beast WebSocket listener that
// speaks TLCP 2.x the way Lightstreamer Server does (subprotocol
// TLCP-2.x.0.lightstreamer.com, wsok/WSOK, create_session -> CONOK, SERVNAME,
// CLIENTIP, CONS, NOOP; bind_session -> CONOK, CONS (SERVNAME and CLIENTIP
// only when changed); control add/delete -> REQOK, SUBOK, CONF (the granted
// frequency), snapshot U lines, UNSUB, REQERR; compact U lines with only the
// changed fields, escaping only what the spec requires; PROBE after
// keep-alive idle; SYNC counted from each bind; LOOP leaves the WebSocket
// open; the spec's codes: CONERR 69 for a second stream on one WebSocket,
// 65/67 for bad request values, END 32/48 to close a live session), serving
// the TelemetryModel's items at the scenario's pace times `speed`, and the
// scenario's faults (drop, stall, END, CONERR, LOOP, garbage lines). It can
// also refuse named items (REQERR), refuse sessions (CONERR), and hand out a
// control link: a second listener named in CONOK where binds are accepted.
//
// One io thread. Tests start it on port 0, inject faults directly and read
// back exactly what each session was sent (`record`).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tlcp/codec.h"
#include "tools/simulator/scenario.h"

namespace iss::sim {

struct SimulatorOptions {
  std::string address = "127.0.0.1:8088";  // port 0 = ephemeral
  double speed = 1.0;                      // scenario seconds per real second
  double rate = -1;                        // background updates/s; < 0 = the scenario's
  std::string adapter_set = "ISSLIVE";
  std::vector<std::string> items;                     // empty = the embedded catalog + TIME_000001
  absl::Time epoch = absl::InfinitePast();            // wall time of scenario 0; past = start time
  absl::Duration tick = absl::Milliseconds(10);       // real time between model steps
  absl::Duration sync_period = absl::Seconds(30);     // real time between SYNCs
  absl::Duration session_linger = absl::Seconds(30);  // unbound session lifetime
  bool record = false;                                // keep every update sent, for tests
  // Items whose subscription is refused: a control request naming one gets
  // REQERR,<code> for the whole request, as a server refuses a group.
  std::map<std::string, int> refused_items;
  // Every create_session and bind_session is refused with CONERR,<code>
  // (0 = none): 2 = "adapter set not available", a permanent refusal.
  int refuse_sessions_code = 0;
  // Open a second listener (same host, port 0) and name it in CONOK's 4th
  // argument, as a server with a control link does.
  bool control_link = false;
  // The most updates/s granted per item (CONF); empty = what was asked.
  std::string max_frequency;
};

// One update as a session was sent it, decoded (schema order of its subscription).
struct SentUpdate {
  std::string session_id;
  std::string item_id;
  tlcp::FieldValues values;
  bool snapshot = false;
};

struct SimulatorStats {
  uint64_t connections = 0;  // WebSocket connections accepted
  uint64_t sessions_created = 0;
  uint64_t sessions_bound = 0;  // bind_session accepted
  uint64_t updates_sent = 0;    // U lines
  uint64_t probes_sent = 0;
  uint64_t syncs_sent = 0;
  uint64_t control_requests = 0;
  uint64_t rejected = 0;  // refused handshakes and requests (REQERR, CONERR)
  uint64_t faults = 0;
  uint64_t updates_skipped = 0;           // background updates dropped to catch up (overload)
  uint64_t control_link_connections = 0;  // WebSockets opened on the control link
  uint64_t control_link_binds = 0;        // bind_session accepted there
  int live_connections = 0;
  int live_sessions = 0;
  int subscribed_items = 0;  // over live sessions
};

class Simulator {
 public:
  static absl::StatusOr<std::unique_ptr<Simulator>> Start(Scenario scenario,
                                                          SimulatorOptions options);
  ~Simulator();  // Stop()s

  int port() const;
  int control_link_port() const;  // 0 without options.control_link
  void Stop();

  // Applies a fault now to every live connection (the scenario's faults go
  // through here too at their time). `fault.at` is ignored.
  void Inject(const Fault& fault);

  SimulatorStats stats() const;
  std::vector<SentUpdate> Sent() const;  // empty unless options.record
  // Scenario time reached by the model.
  absl::Duration scenario_time() const;

 private:
  struct Impl;
  explicit Simulator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace iss::sim
