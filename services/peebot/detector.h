// Owns: urination detection on the urine tank level, in event time only.
//
// A pure class: fed Samples (tank items, NODE3000004, TIME_000001), it emits
// Detections. It never reads the wall clock, so replaying the same samples
// gives the same detections with the same ids. Not thread-safe (the caller
// serialises access).
//
// Ordering. Samples come off several Kafka partitions (one per item), so the
// items interleave arbitrarily, and a source may deliver a few samples late.
// The detector buffers samples and releases them in source_ts order up to a
// watermark: the minimum, over the streams it has seen, of (newest source_ts
// in that stream - allowed_lateness). A stream that is far ahead (a replay
// backlog read one partition at a time) therefore waits for the others. When
// the caller believes it is caught up with the bus it calls
// ReleaseIdleStreams(): everything up to the newest sample of any stream less
// allowed_lateness (an idle stream no longer holds the others back, a sample
// still in flight on another partition still finds its place); when nothing
// more can come (the bus is quiet, a replay ended) it calls Drain(), which
// releases everything.
//
// The rule, on the released, ordered samples of one tank item:
//   - A candidate rise opens when the level goes above the baseline (the last
//     settled level). Each new peak is a step; the candidate stays open while
//     new peaks come no more than max_step_gap apart (event time).
//   - It closes when event time passes last peak + max_step_gap (any item's
//     sample moves event time, so the station clock TIME_000001 closes it), or
//     when signal is lost. On close it is an event when peak - start level >=
//     min_rise_percent and the level at close is still >= start level +
//     min_rise_percent (a step that reverts is jitter, not a fill).
//   - Falling to or below the start level discards the candidate (jitter, or a
//     drain): drains only ever lower the baseline, so they never create events.
//   - The tank reads whole percent with +/-1 point of flicker, so a fall of at
//     most flicker_percent below the baseline is a dip, not yet a new
//     baseline: it becomes the baseline only once it has held for
//     max_step_gap of event time; a return to the baseline (or a rise)
//     cancels it. A dip of 1 that returns, then a +1 flicker that holds, is
//     therefore a rise of 1 from the baseline, not of 2 from the dip. A fall
//     of more than flicker_percent lowers the baseline at once (a drain or a
//     real drop).
//   - Resynchronisation: the first sample after loss of signal (TIME_000001
//     Status.Class != "24", or a sample marked LOS), after a gap in the station
//     clock longer than max_step_gap (no data: a disconnect), or a sample that
//     was received from the feed more than max_sample_lag after it was taken
//     (a snapshot after reconnect) only sets the baseline: a level that moved
//     while we could not see it is never a rise. "Received" is the sample's
//     received_ts, which a replay carries over from the recorded session, so
//     a replay of last month (ingested now) is judged as it was live; never
//     ingest_ts.
//   - A sample older than the newest one already processed for its item is
//     late: dropped and counted (the released order already absorbs up to
//     allowed_lateness of disorder).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "services/peebot/sample.h"

namespace iss::peebot {

struct DetectorConfig {
  double min_rise_percent = 2.0;
  absl::Duration max_step_gap = absl::Seconds(30);
  // A sample received later than this after it was taken is a snapshot.
  absl::Duration max_sample_lag = absl::Seconds(60);
  // Disorder absorbed before release (event time).
  absl::Duration allowed_lateness = absl::Seconds(5);
  double ml_per_percent = 82.0;
  // The tank's reading flickers by this much (percent points) without the
  // level changing: a dip this deep only lowers the baseline once it holds.
  double flicker_percent = 1.0;
  std::vector<std::string> tank_items = {"NODE3000005"};
  // Upper bound on buffered samples; beyond it the oldest are released.
  size_t max_buffered = 5000;
};

struct Detection {
  std::string detection_id;  // hex SHA-256 of "item_id|start_time(RFC 3339 us)"
  std::string item_id;
  absl::Time start_time;  // first step above the start level
  absl::Time end_time;    // last new peak
  double start_level = 0;
  double end_level = 0;
  double rise = 0;
  double volume_ml = 0;
};

std::string DetectionId(const std::string& item_id, absl::Time start_time);

class Detector {
 public:
  explicit Detector(DetectorConfig config);

  // True for the items the detector uses (tank items, processor, clock).
  bool Wants(const std::string& item_id) const;

  // Buffers a sample and appends the detections it completes to `out`.
  void Add(const Sample& sample, std::vector<Detection>* out);
  // Caught up, as far as the caller can tell: releases up to the newest
  // sample seen less allowed_lateness, whichever streams are idle.
  void ReleaseIdleStreams(std::vector<Detection>* out);
  // Nothing more can come now (the bus is quiet, a replay ended): releases
  // every buffered sample.
  void Drain(std::vector<Detection>* out);

  // Run-time tuning (validated by the caller). Open candidates keep going
  // under the new rule.
  void SetRule(double min_rise_percent, absl::Duration max_step_gap, double ml_per_percent);
  const DetectorConfig& config() const { return config_; }

  // Serialised state (JSON): persisted with the consumer offsets so a restart
  // continues exactly where the last committed batch ended.
  std::string SaveState() const;
  absl::Status LoadState(const std::string& json);

  // Observations for status reporting.
  struct Level {
    double percent = 0;
    absl::Time at;
  };
  std::optional<Level> LastLevel(const std::string& item_id) const;
  SignalState signal() const { return signal_; }
  std::optional<int64_t> processor_state() const { return processor_state_; }
  int64_t late_samples() const { return late_samples_; }
  int64_t resyncs() const { return resyncs_; }
  int64_t samples_processed() const { return processed_; }
  size_t buffered() const { return buffer_.size(); }

 private:
  struct Candidate {
    absl::Time start_time;
    double start_level = 0;
    double peak = 0;
    absl::Time peak_time;
    double current = 0;
  };
  // A reading just below the baseline that has not (yet) held: flicker or
  // the start of a drain.
  struct Dip {
    double level = 0;
    absl::Time since;
  };
  struct Tank {
    bool has_baseline = false;
    double baseline = 0;
    absl::Time last_time = absl::InfinitePast();
    double last_value = 0;
    bool need_resync = true;
    std::optional<Candidate> candidate;
    std::optional<Dip> dip;
  };

  void Release(absl::Time watermark, std::vector<Detection>* out);
  void Process(const Sample& s, std::vector<Detection>* out);
  void ProcessClock(const Sample& s, std::vector<Detection>* out);
  void ProcessTank(const Sample& s, Tank& tank, std::vector<Detection>* out);
  void CloseExpired(absl::Time now, std::vector<Detection>* out);
  // A level at or below the baseline, with no candidate open.
  void Lower(Tank& tank, double level, absl::Time at) const;
  void Close(const std::string& item_id, Tank& tank, std::vector<Detection>* out);
  bool IsTank(const std::string& item_id) const;

  DetectorConfig config_;
  // Buffered samples by (source_ts, arrival sequence).
  std::multimap<absl::Time, Sample> buffer_;
  std::map<std::string, absl::Time> stream_max_;  // newest source_ts per item
  absl::Time released_ = absl::InfinitePast();    // event time reached
  std::map<std::string, Tank> tanks_;
  SignalState signal_ = iss::telemetry::v1::SIGNAL_STATE_UNSPECIFIED;
  bool clock_seen_ = false;
  absl::Time last_clock_ = absl::InfinitePast();  // last AOS tick of TIME_000001
  std::optional<int64_t> processor_state_;
  int64_t late_samples_ = 0;
  int64_t resyncs_ = 0;
  int64_t processed_ = 0;
};

}  // namespace iss::peebot
