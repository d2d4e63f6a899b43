// Owns: the simulated station's telemetry: the current six ISSLIVE fields of
// every served item and how they evolve in scenario time, deterministically
// from the scenario's seed. No I/O and no wall clock: the server asks it to
// advance to a scenario time and broadcasts what changed.
//
// What it models:
//   - TIME_000001 every time_period: station time in Value/TimeStamp,
//     Status.Class "24" with signal, "0" during a LOS window;
//   - background updates at updates_per_second spread over the other items
//     (a bounded random walk around a per-item level);
//   - the urine tank NODE3000005 (integer percent): rises of N % at +1 % per
//     step, drains of -1 % per drain_step while NODE3000004 = 16 (NORMAL,
//     32 STANDBY otherwise), +/-1 % flickers that revert;
//   - LOS: no item but TIME_000001 updates (values frozen); when the signal
//     returns the urine items are sent again with their current values.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "tlcp/codec.h"
#include "tools/simulator/scenario.h"

namespace iss::sim {

class TelemetryModel {
 public:
  // `items`: what the server serves (catalog + TIME_000001). `epoch`: the wall
  // time of scenario time 0, used for TimeStamp.
  TelemetryModel(const Scenario& scenario, std::vector<std::string> items, absl::Time epoch);

  const std::vector<std::string>& items() const { return items_; }
  // Index of an item id, or -1.
  int Find(std::string_view item_id) const;
  // Current fields in kIssliveFields order.
  const tlcp::FieldValues& Current(size_t item) const { return values_[item]; }

  struct Change {
    size_t item;
    tlcp::FieldValues values;  // the item's fields after the change
  };
  // Advances to scenario time `t` (monotonic), appending every change in
  // time order; the same item may change more than once. Once `out` holds
  // `max_changes`, background updates due up to `t` are skipped (counted in
  // skipped()) so a server that fell behind catches up instead of spiralling;
  // the scripted items (time, urine) are never skipped.
  void AdvanceTo(absl::Duration t, std::vector<Change>* out,
                 size_t max_changes = static_cast<size_t>(-1));
  uint64_t skipped() const { return skipped_; }

  // Overrides the background rate (updates/s over all items), e.g. for load.
  void SetRate(double updates_per_second);

  absl::Duration now() const { return now_; }
  bool InLos(absl::Duration t) const;
  int urine_percent() const { return urine_; }
  int processor_state() const { return processor_; }

 private:
  void Emit(size_t item, std::vector<Change>* out);
  // LOS and urine-processor state at now_ (window edges).
  void ApplyWindows(std::vector<Change>* out);
  void Stamp(size_t item, absl::Duration t);
  void SetUrine(int percent, absl::Duration t, std::vector<Change>* out);
  std::string IssHours(absl::Duration t) const;

  const Scenario scenario_;
  std::vector<std::string> items_;
  absl::flat_hash_map<std::string, size_t> index_;
  std::vector<tlcp::FieldValues> values_;
  std::vector<double> level_;       // random-walk level per item
  std::vector<size_t> background_;  // items that get background updates
  absl::Time epoch_;
  std::mt19937_64 rng_;
  absl::Duration now_ = absl::ZeroDuration();
  bool los_ = false;

  int time_item_ = -1, urine_item_ = -1, processor_item_ = -1;
  int urine_ = 40;
  int processor_ = 32;
  double rate_ = 0;
  absl::Duration next_time_tick_;
  absl::Duration next_background_;
  // Urine: scheduled +1 % steps and -1 % drains, flickers and their reverts.
  std::vector<absl::Duration> rise_steps_;  // sorted
  size_t next_rise_ = 0;
  absl::Duration next_drain_ = absl::InfiniteDuration();
  absl::Duration next_random_urination_ = absl::InfiniteDuration();
  absl::Duration next_flicker_ = absl::InfiniteDuration();
  absl::Duration flicker_revert_ = absl::InfiniteDuration();
  int flicker_delta_ = 0;
  uint64_t skipped_ = 0;
};

}  // namespace iss::sim
