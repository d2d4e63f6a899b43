#include "services/peebot/detector.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/catalog.h"
#include "common/event_id.h"
#include "common/grpc_util.h"
#include "nlohmann/json.hpp"

namespace iss::peebot {
namespace {

using iss::telemetry::v1::SIGNAL_STATE_AOS;
using iss::telemetry::v1::SIGNAL_STATE_LOS;
using Json = nlohmann::json;

// Status.Class of TIME_000001 while the signal is acquired (public clients' rule).
constexpr std::string_view kAcquiredClass = "24";

int64_t Micros(absl::Time t) {
  if (t == absl::InfinitePast()) return INT64_MIN;
  return absl::ToUnixMicros(t);
}
absl::Time FromMicros(int64_t us) {
  if (us == INT64_MIN) return absl::InfinitePast();
  return absl::FromUnixMicros(us);
}

std::optional<double> ParseLevel(const std::optional<std::string>& text) {
  double v = 0;
  if (!text || !absl::SimpleAtod(*text, &v) || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

std::string DetectionId(const std::string& item_id, absl::Time start_time) {
  return iss::Sha256Hex(absl::StrCat(item_id, "|", iss::FormatRfc3339Micros(start_time)));
}

Detector::Detector(DetectorConfig config) : config_(std::move(config)) {
  // Every stream we expect holds the watermark back until it has been seen:
  // otherwise a fast stream read before the others would run ahead.
  for (const std::string& item : config_.tank_items) stream_max_[item] = absl::InfinitePast();
  stream_max_[std::string(iss::kTimeItem)] = absl::InfinitePast();
}

bool Detector::IsTank(const std::string& item_id) const {
  return std::find(config_.tank_items.begin(), config_.tank_items.end(), item_id) !=
         config_.tank_items.end();
}

bool Detector::Wants(const std::string& item_id) const {
  return IsTank(item_id) || item_id == iss::kUrineProcessorItem || item_id == iss::kTimeItem;
}

void Detector::SetRule(double min_rise_percent, absl::Duration max_step_gap,
                       double ml_per_percent) {
  config_.min_rise_percent = min_rise_percent;
  config_.max_step_gap = max_step_gap;
  config_.ml_per_percent = ml_per_percent;
}

void Detector::Add(const Sample& sample, std::vector<Detection>* out) {
  if (!Wants(sample.item_id)) return;
  buffer_.emplace(sample.source_ts, sample);
  // The processor item changes rarely; it is context and never holds others back.
  if (sample.item_id != iss::kUrineProcessorItem) {
    absl::Time& newest = stream_max_[sample.item_id];
    newest = std::max(newest, sample.source_ts);
  }

  // Watermark: the slowest stream bounds what is safe to release.
  absl::Time watermark = absl::InfiniteFuture();
  for (const auto& [item, t] : stream_max_) watermark = std::min(watermark, t);
  Release(watermark - config_.allowed_lateness, out);
  while (buffer_.size() > config_.max_buffered) {
    Release(buffer_.begin()->first, out);
  }
}

void Detector::Drain(std::vector<Detection>* out) { Release(absl::InfiniteFuture(), out); }

void Detector::ReleaseIdleStreams(std::vector<Detection>* out) {
  absl::Time newest = absl::InfinitePast();
  for (const auto& [item, t] : stream_max_) newest = std::max(newest, t);
  if (newest == absl::InfinitePast()) return;
  Release(newest - config_.allowed_lateness, out);
}

void Detector::Release(absl::Time watermark, std::vector<Detection>* out) {
  while (!buffer_.empty() && buffer_.begin()->first <= watermark) {
    auto node = buffer_.extract(buffer_.begin());
    Process(node.mapped(), out);
  }
}

void Detector::Process(const Sample& s, std::vector<Detection>* out) {
  ++processed_;
  if (s.source_ts > released_) released_ = s.source_ts;
  CloseExpired(released_, out);
  if (s.item_id == iss::kTimeItem) {
    ProcessClock(s, out);
  } else if (s.item_id == iss::kUrineProcessorItem) {
    if (auto v = ParseLevel(s.value)) processor_state_ = static_cast<int64_t>(*v);
  } else if (IsTank(s.item_id)) {
    ProcessTank(s, tanks_[s.item_id], out);
  }
}

void Detector::ProcessClock(const Sample& s, std::vector<Detection>* out) {
  clock_seen_ = true;
  const bool lost = s.signal == SIGNAL_STATE_LOS ||
                    (s.status_class.has_value() && *s.status_class != kAcquiredClass);
  if (lost) {
    if (signal_ != SIGNAL_STATE_LOS) {
      // Values freeze during LOS: whatever rise was under way ends here, and
      // the next sample after AOS only re-establishes the baseline.
      for (auto& [item, tank] : tanks_) {
        Close(item, tank, out);
        tank.need_resync = true;
      }
    }
    signal_ = SIGNAL_STATE_LOS;
    return;
  }
  signal_ = SIGNAL_STATE_AOS;
  if (s.source_ts > last_clock_) last_clock_ = s.source_ts;
}

void Detector::ProcessTank(const Sample& s, Tank& tank, std::vector<Detection>* out) {
  if (s.source_ts <= tank.last_time) {
    ++late_samples_;
    return;
  }
  const std::optional<double> level = ParseLevel(s.value);
  if (s.signal == SIGNAL_STATE_LOS || signal_ == SIGNAL_STATE_LOS) {
    Close(s.item_id, tank, out);
    tank.need_resync = true;
    return;
  }
  if (!level) return;  // null or unparsable: ingestion validates, we stay safe

  // Event time throughout: the receive time the sample carries, never the
  // time it was ingested (a replay's ingest_ts is "now").
  const bool snapshot =
      s.received_ts != absl::InfinitePast() && s.received_ts - s.source_ts > config_.max_sample_lag;
  const bool clock_gap = clock_seen_ && s.source_ts - last_clock_ > config_.max_step_gap;
  const bool resync = tank.need_resync || !tank.has_baseline || snapshot || clock_gap;
  tank.last_time = s.source_ts;
  tank.last_value = *level;
  if (resync) {
    if (tank.has_baseline) ++resyncs_;
    Close(s.item_id, tank, out);
    tank.candidate.reset();
    tank.has_baseline = true;
    tank.baseline = *level;
    tank.dip.reset();
    tank.need_resync = false;
    return;
  }

  if (!tank.candidate) {
    if (*level > tank.baseline) {
      tank.dip.reset();  // the dip was flicker: the rise counts from the baseline
      tank.candidate = Candidate{s.source_ts, tank.baseline, *level, s.source_ts, *level};
    } else {
      Lower(tank, *level, s.source_ts);  // steady, flicker or draining
    }
    return;
  }
  Candidate& c = *tank.candidate;
  c.current = *level;
  if (*level > c.peak) {
    c.peak = *level;
    c.peak_time = s.source_ts;
  } else if (*level <= c.start_level) {
    tank.candidate.reset();  // reverted: jitter, or the processor draining
    tank.baseline = c.start_level;
    Lower(tank, *level, s.source_ts);
  }
}

void Detector::Lower(Tank& tank, double level, absl::Time at) const {
  constexpr double kEps = 1e-9;
  if (level >= tank.baseline) {
    tank.dip.reset();  // back at the baseline: whatever dipped was flicker
  } else if (tank.baseline - level > config_.flicker_percent + kEps) {
    tank.baseline = level;  // more than flicker: a drain or a real drop
    tank.dip.reset();
  } else if (!tank.dip) {
    tank.dip = Dip{level, at};  // settles in CloseExpired if it holds
  } else {
    tank.dip->level = std::min(tank.dip->level, level);
  }
}

void Detector::CloseExpired(absl::Time now, std::vector<Detection>* out) {
  for (auto& [item, tank] : tanks_) {
    if (tank.candidate && now - tank.candidate->peak_time > config_.max_step_gap) {
      Close(item, tank, out);
    }
    // A dip that held as long as a rise may pause between steps is the level.
    if (tank.dip && !tank.candidate && now - tank.dip->since > config_.max_step_gap) {
      tank.baseline = tank.dip->level;
      tank.dip.reset();
    }
  }
}

void Detector::Close(const std::string& item_id, Tank& tank, std::vector<Detection>* out) {
  if (!tank.candidate) return;
  const Candidate c = *tank.candidate;
  tank.candidate.reset();
  tank.baseline = c.current;
  tank.dip.reset();
  const double rise = c.peak - c.start_level;
  // Small epsilon: levels are decimal text, rises compared in percent points.
  constexpr double kEps = 1e-9;
  if (rise + kEps < config_.min_rise_percent) return;
  if (c.current + kEps < c.start_level + config_.min_rise_percent) return;
  Detection d;
  d.item_id = item_id;
  d.start_time = c.start_time;
  d.end_time = c.peak_time;
  d.start_level = c.start_level;
  d.end_level = c.peak;
  d.rise = rise;
  d.volume_ml = rise * config_.ml_per_percent;
  d.detection_id = DetectionId(item_id, c.start_time);
  out->push_back(std::move(d));
}

std::optional<Detector::Level> Detector::LastLevel(const std::string& item_id) const {
  auto it = tanks_.find(item_id);
  if (it == tanks_.end() || it->second.last_time == absl::InfinitePast()) return std::nullopt;
  return Level{it->second.last_value, it->second.last_time};
}

// ---- State ------------------------------------------------------------------

namespace {

Json SampleToJson(const Sample& s) {
  Json j = {{"item", s.item_id},
            {"ts", Micros(s.source_ts)},
            {"ingest", Micros(s.ingest_ts)},
            {"received", Micros(s.received_ts)},
            {"signal", static_cast<int>(s.signal)}};
  if (s.value) j["value"] = *s.value;
  if (s.status_class) j["class"] = *s.status_class;
  return j;
}

Sample SampleFromJson(const Json& j) {
  Sample s;
  s.item_id = j.at("item").get<std::string>();
  s.source_ts = FromMicros(j.at("ts").get<int64_t>());
  s.ingest_ts = FromMicros(j.at("ingest").get<int64_t>());
  // State saved before received_ts existed: the ingest time stood for it.
  s.received_ts = j.contains("received") ? FromMicros(j["received"].get<int64_t>()) : s.ingest_ts;
  s.signal = static_cast<SignalState>(j.at("signal").get<int>());
  if (j.contains("value")) s.value = j["value"].get<std::string>();
  if (j.contains("class")) s.status_class = j["class"].get<std::string>();
  return s;
}

}  // namespace

std::string Detector::SaveState() const {
  Json tanks = Json::object();
  for (const auto& [item, t] : tanks_) {
    Json jt = {{"has_baseline", t.has_baseline},
               {"baseline", t.baseline},
               {"last_time", Micros(t.last_time)},
               {"last_value", t.last_value},
               {"need_resync", t.need_resync}};
    if (t.candidate) {
      jt["candidate"] = {{"start_time", Micros(t.candidate->start_time)},
                         {"start_level", t.candidate->start_level},
                         {"peak", t.candidate->peak},
                         {"peak_time", Micros(t.candidate->peak_time)},
                         {"current", t.candidate->current}};
    }
    if (t.dip) jt["dip"] = {{"level", t.dip->level}, {"since", Micros(t.dip->since)}};
    tanks[item] = std::move(jt);
  }
  Json streams = Json::object();
  for (const auto& [item, t] : stream_max_) streams[item] = Micros(t);
  Json buffer = Json::array();
  for (const auto& [ts, s] : buffer_) buffer.push_back(SampleToJson(s));
  Json j = {{"version", 1},
            {"tanks", std::move(tanks)},
            {"streams", std::move(streams)},
            {"buffer", std::move(buffer)},
            {"released", Micros(released_)},
            {"signal", static_cast<int>(signal_)},
            {"clock_seen", clock_seen_},
            {"last_clock", Micros(last_clock_)}};
  if (processor_state_) j["processor_state"] = *processor_state_;
  return j.dump();
}

absl::Status Detector::LoadState(const std::string& text) {
  // nlohmann reports malformed input with exceptions: converted here, at the
  // border, so nothing escapes the component.
  try {
    const Json j = Json::parse(text);
    if (j.at("version").get<int>() != 1) {
      return absl::InvalidArgumentError("detector state: unknown version");
    }
    std::map<std::string, Tank> tanks;
    for (const auto& [item, jt] : j.at("tanks").items()) {
      Tank t;
      t.has_baseline = jt.at("has_baseline").get<bool>();
      t.baseline = jt.at("baseline").get<double>();
      t.last_time = FromMicros(jt.at("last_time").get<int64_t>());
      t.last_value = jt.at("last_value").get<double>();
      t.need_resync = jt.at("need_resync").get<bool>();
      if (jt.contains("candidate")) {
        const Json& c = jt["candidate"];
        t.candidate =
            Candidate{FromMicros(c.at("start_time").get<int64_t>()),
                      c.at("start_level").get<double>(), c.at("peak").get<double>(),
                      FromMicros(c.at("peak_time").get<int64_t>()), c.at("current").get<double>()};
      }
      if (jt.contains("dip")) {  // absent in state saved before dips were tracked
        const Json& d = jt["dip"];
        t.dip = Dip{d.at("level").get<double>(), FromMicros(d.at("since").get<int64_t>())};
      }
      tanks.emplace(item, t);
    }
    std::map<std::string, absl::Time> streams;
    for (const auto& [item, t] : j.at("streams").items()) {
      streams[item] = FromMicros(t.get<int64_t>());
    }
    std::multimap<absl::Time, Sample> buffer;
    for (const Json& js : j.at("buffer")) {
      Sample s = SampleFromJson(js);
      buffer.emplace(s.source_ts, std::move(s));
    }
    tanks_ = std::move(tanks);
    stream_max_ = std::move(streams);
    buffer_ = std::move(buffer);
    released_ = FromMicros(j.at("released").get<int64_t>());
    signal_ = static_cast<SignalState>(j.at("signal").get<int>());
    clock_seen_ = j.at("clock_seen").get<bool>();
    last_clock_ = FromMicros(j.at("last_clock").get<int64_t>());
    processor_state_.reset();
    if (j.contains("processor_state")) processor_state_ = j["processor_state"].get<int64_t>();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("detector state: ", e.what()));
  }
}

}  // namespace iss::peebot
