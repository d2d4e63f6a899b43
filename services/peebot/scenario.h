// Owns: detector scenarios as data files (services/peebot/testdata/*.scenario):
// a timeline of samples, how it is delivered, and the detections expected.
//
// Format, one directive per line, '#' starts a comment; times are seconds
// (decimals allowed) from the scenario epoch 2026-01-10T12:00:00Z:
//   set min_rise 2 | set max_step_gap 30 | set max_sample_lag 60 | set allowed_lateness 5
//   set ingest_delay S               every sample was ingested S s after it was
//                                    received (a replay of a recording: S can
//                                    be months); default 0
//   ticks FROM TO EVERY [los] TIME_000001 samples (Status.Class "24", or "0" = LOS),
//                                    each received 0.2 s after it was taken
//   tank T LEVEL [lag=S] [item=ID]   a tank sample; received from the feed S s
//                                    later (default 0.5)
//   proc T STATE                     NODE3000004 sample
//   deliver sorted | shuffle WINDOW SEED | skew ITEM SECONDS
//       sorted: in source_ts order (default); shuffle: each sample delayed by a
//       pseudo-random 0..WINDOW s (out-of-order delivery); skew: every sample of
//       ITEM delivered SECONDS later than the others (a lagging partition).
//   expect START END FROM TO [item=ID]  one expected detection
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/peebot/detector.h"
#include "services/peebot/sample.h"

namespace iss::peebot {

struct Scenario {
  std::string name;
  DetectorConfig config;
  std::vector<Sample> delivery;  // in delivery order
  std::vector<Detection> expected;
};

absl::Time ScenarioEpoch();
absl::StatusOr<Scenario> ParseScenario(absl::string_view name, absl::string_view text);
absl::StatusOr<Scenario> LoadScenario(const std::string& path);

// Feeds the delivery through a fresh detector (Drain at the end).
std::vector<Detection> RunScenario(const Scenario& scenario);

}  // namespace iss::peebot
