// Owns: the ISSLIVE simulator's scenario: what the simulated station does and
// when (seed, update rates, scripted urinations, urine-processor runs, signal
// loss windows, protocol faults), read from a JSON file. Times are scenario
// time (seconds from the start), which the server scales by its speed factor.
//
// File format (every key optional; unknown keys are rejected):
// {
//   "seed": 42,
//   "updates_per_second": 70,          // background updates, all items together
//   "time_period_s": 1,                // TIME_000001 cadence
//   "duration_s": 0,                   // 0 = run forever
//   "urine": {
//     "start_percent": 40,
//     "events": [{"at_s": 60, "rise_percent": 7, "step_s": 5}],
//     "per_hour": 0.5,                 // extra random urinations
//     "processing": [{"start_s": 600, "duration_s": 1800}],   // NODE3000004 = 16
//     "drain_step_s": 300,             // -1 % per step while processing
//     "flicker_per_hour": 4, "flicker_s": 8
//   },
//   "los": [{"start_s": 300, "duration_s": 120}],
//   "faults": [{"at_s": 30, "kind": "drop"},                 // close the socket
//              {"at_s": 40, "kind": "stall", "duration_s": 20},  // send nothing, no PROBE
//              {"at_s": 50, "kind": "end", "code": 48},   // END,<code> (default 32)
//              {"at_s": 55, "kind": "conerr", "code": 5, "count": 2},
//                 // END,32 the live sessions, then CONERR,<code> the next
//                 // `count` create/bind requests (0 = every one from now on)
//              {"at_s": 57, "kind": "loop"},
//              {"at_s": 60, "kind": "garbage", "lines": 5}]
// }
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace iss::sim {

struct Window {
  absl::Duration start;
  absl::Duration duration;
  bool Contains(absl::Duration t) const { return t >= start && t < start + duration; }
};

struct Urination {
  absl::Duration at;
  int rise_percent = 7;
  absl::Duration step = absl::Seconds(5);  // +1 % per step
};

enum class FaultKind { kDrop, kStall, kEnd, kConerr, kLoop, kGarbage };
std::string_view FaultName(FaultKind kind);

struct Fault {
  absl::Duration at;
  FaultKind kind = FaultKind::kDrop;
  absl::Duration duration = absl::Seconds(30);  // stall: scenario time
  int lines = 3;                                // garbage: how many lines
  // end: the END code (32 "closed on the server side"; 48 "reopen now").
  // conerr: the CONERR code for refused requests (5 "retry later"; 2
  // "adapter set not available" is a permanent refusal).
  int code = 0;   // 0 = the kind's default
  int count = 1;  // conerr: requests refused; 0 = all from now on
};

struct Scenario {
  uint64_t seed = 1;
  double updates_per_second = 70;
  absl::Duration time_period = absl::Seconds(1);
  absl::Duration duration = absl::ZeroDuration();  // 0 = forever

  int urine_start_percent = 40;
  std::vector<Urination> urinations;
  double urinations_per_hour = 0.5;
  std::vector<Window> processing;
  absl::Duration drain_step = absl::Minutes(5);
  double flicker_per_hour = 4;
  absl::Duration flicker = absl::Seconds(8);

  std::vector<Window> los;
  std::vector<Fault> faults;
};

// The built-in scenario: a quiet hour with two urinations, one processor run,
// one short LOS, no faults.
Scenario DefaultScenario();

// INVALID_ARGUMENT names the bad key (e.g. "urine.events[1].rise_percent").
absl::StatusOr<Scenario> ParseScenario(std::string_view json);
absl::StatusOr<Scenario> LoadScenario(const std::string& path);

}  // namespace iss::sim
