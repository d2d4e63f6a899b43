#include "tools/simulator/model.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/catalog.h"
#include "common/isslive_time.h"

namespace iss::sim {
namespace {

// Field slots, in iss::kIssliveFields order.
enum Slot { kValue = 0, kTimeStamp, kClass, kIndicator, kColor, kCalibrated, kSlots };

constexpr const char* kAos = "24";
constexpr const char* kLosClass = "0";

absl::Duration Exponential(std::mt19937_64& rng, double per_hour) {
  if (per_hour <= 0) return absl::InfiniteDuration();
  std::exponential_distribution<double> d(per_hour / 3600.0);
  return absl::Seconds(d(rng));
}

const char* ProcessorLabel(int state) { return state == 16 ? "NORMAL" : "STANDBY"; }

}  // namespace

TelemetryModel::TelemetryModel(const Scenario& scenario, std::vector<std::string> items,
                               absl::Time epoch)
    : scenario_(scenario), items_(std::move(items)), epoch_(epoch), rng_(scenario.seed) {
  std::uniform_real_distribution<double> level(0, 100);
  for (size_t i = 0; i < items_.size(); ++i) {
    index_[items_[i]] = i;
    level_.push_back(level(rng_));
    tlcp::FieldValues v(kSlots);
    v[kValue] = absl::StrFormat("%.4f", level_.back());
    v[kTimeStamp] = IssHours(absl::ZeroDuration());
    v[kClass] = kAos;
    v[kIndicator] = "";
    v[kColor] = "";
    v[kCalibrated] = std::nullopt;
    values_.push_back(std::move(v));
  }
  time_item_ = Find(kTimeItem);
  urine_item_ = Find(kUrineTankItem);
  processor_item_ = Find(kUrineProcessorItem);
  for (size_t i = 0; i < items_.size(); ++i) {
    if (static_cast<int>(i) != time_item_ && static_cast<int>(i) != urine_item_ &&
        static_cast<int>(i) != processor_item_) {
      background_.push_back(i);
    }
  }
  urine_ = scenario_.urine_start_percent;
  processor_ = 32;
  for (const Window& w : scenario_.processing) {
    if (w.Contains(absl::ZeroDuration())) processor_ = 16;
  }
  if (urine_item_ >= 0) {
    values_[urine_item_][kValue] = absl::StrCat(urine_);
    values_[urine_item_][kCalibrated] = "";
  }
  if (processor_item_ >= 0) {
    values_[processor_item_][kValue] = absl::StrCat(processor_);
    values_[processor_item_][kCalibrated] = ProcessorLabel(processor_);
  }
  if (time_item_ >= 0) values_[time_item_][kValue] = IssHours(absl::ZeroDuration());
  los_ = InLos(absl::ZeroDuration());
  if (los_ && time_item_ >= 0) values_[time_item_][kClass] = kLosClass;

  for (const Urination& u : scenario_.urinations) {
    for (int k = 1; k <= u.rise_percent; ++k) rise_steps_.push_back(u.at + u.step * k);
  }
  std::sort(rise_steps_.begin(), rise_steps_.end());
  if (processor_ == 16) next_drain_ = scenario_.drain_step;
  rate_ = scenario_.updates_per_second;
  next_time_tick_ = scenario_.time_period;
  next_background_ = rate_ > 0 ? absl::Seconds(1.0 / rate_) : absl::InfiniteDuration();
  next_random_urination_ = Exponential(rng_, scenario_.urinations_per_hour);
  next_flicker_ = Exponential(rng_, scenario_.flicker_per_hour);
}

int TelemetryModel::Find(std::string_view item_id) const {
  auto it = index_.find(std::string(item_id));
  return it == index_.end() ? -1 : static_cast<int>(it->second);
}

void TelemetryModel::SetRate(double updates_per_second) {
  rate_ = updates_per_second;
  next_background_ = rate_ > 0 ? now_ + absl::Seconds(1.0 / rate_) : absl::InfiniteDuration();
}

bool TelemetryModel::InLos(absl::Duration t) const {
  for (const Window& w : scenario_.los) {
    if (w.Contains(t)) return true;
  }
  return false;
}

std::string TelemetryModel::IssHours(absl::Duration t) const {
  return absl::StrFormat("%.12f", TimeToIssHours(epoch_ + t));
}

void TelemetryModel::Stamp(size_t item, absl::Duration t) {
  values_[item][kTimeStamp] = IssHours(t);
}

void TelemetryModel::Emit(size_t item, std::vector<Change>* out) {
  out->push_back({item, values_[item]});
}

void TelemetryModel::SetUrine(int percent, absl::Duration t, std::vector<Change>* out) {
  urine_ = std::clamp(percent, 0, 100);
  if (urine_item_ < 0) return;
  const std::string shown = absl::StrCat(std::clamp(urine_ + flicker_delta_, 0, 100));
  if (values_[urine_item_][kValue] == shown) return;
  values_[urine_item_][kValue] = shown;
  // During LOS the ground sees nothing: values stay frozen until AOS.
  if (!los_) {
    Stamp(urine_item_, t);
    Emit(urine_item_, out);
  }
}

void TelemetryModel::ApplyWindows(std::vector<Change>* out) {
  const bool los = InLos(now_);
  if (los != los_) {
    los_ = los;
    if (time_item_ >= 0) {
      values_[time_item_][kClass] = los ? kLosClass : kAos;
      values_[time_item_][kValue] = IssHours(now_);
      Stamp(time_item_, now_);
      Emit(time_item_, out);
    }
    if (!los) {
      // Acquisition of signal: the ground catches up on what changed.
      for (int item : {urine_item_, processor_item_}) {
        if (item < 0) continue;
        Stamp(item, now_);
        Emit(item, out);
      }
    }
  }
  bool processing = false;
  for (const Window& w : scenario_.processing) processing |= w.Contains(now_);
  const int state = processing ? 16 : 32;
  if (state != processor_) {
    processor_ = state;
    next_drain_ = processing ? now_ + scenario_.drain_step : absl::InfiniteDuration();
    if (processor_item_ >= 0) {
      values_[processor_item_][kValue] = absl::StrCat(processor_);
      values_[processor_item_][kCalibrated] = ProcessorLabel(processor_);
      if (!los_) {
        Stamp(processor_item_, now_);
        Emit(processor_item_, out);
      }
    }
  }
}

void TelemetryModel::AdvanceTo(absl::Duration t, std::vector<Change>* out, size_t max_changes) {
  // Window edges (processing, LOS) are events too.
  auto next_edge = [&](const std::vector<Window>& windows) {
    absl::Duration best = absl::InfiniteDuration();
    for (const Window& w : windows) {
      if (w.start > now_) best = std::min(best, w.start);
      if (w.start + w.duration > now_) best = std::min(best, w.start + w.duration);
    }
    return best;
  };
  while (true) {
    const absl::Duration rise =
        next_rise_ < rise_steps_.size() ? rise_steps_[next_rise_] : absl::InfiniteDuration();
    const absl::Duration proc_edge = next_edge(scenario_.processing);
    const absl::Duration los_edge = next_edge(scenario_.los);
    const absl::Duration next =
        std::min({next_time_tick_, next_background_, rise, next_drain_, next_random_urination_,
                  next_flicker_, flicker_revert_, proc_edge, los_edge});
    if (next > t || next == absl::InfiniteDuration()) break;
    now_ = next;

    ApplyWindows(out);
    if (next == los_edge || next == proc_edge) {
      // Handled by ApplyWindows; other events due now run on the next turn.
    } else if (next == next_time_tick_) {
      next_time_tick_ += scenario_.time_period;
      if (!los_ && time_item_ >= 0) {
        values_[time_item_][kValue] = IssHours(now_);
        Stamp(time_item_, now_);
        Emit(time_item_, out);
      }
    } else if (next == rise) {
      ++next_rise_;
      SetUrine(urine_ + 1, now_, out);
    } else if (next == next_drain_) {
      next_drain_ += scenario_.drain_step;
      SetUrine(urine_ - 1, now_, out);
    } else if (next == next_random_urination_) {
      next_random_urination_ = now_ + Exponential(rng_, scenario_.urinations_per_hour);
      std::uniform_int_distribution<int> rise_pct(5, 10);
      const int n = rise_pct(rng_);
      for (int k = 1; k <= n; ++k) rise_steps_.push_back(now_ + absl::Seconds(5) * k);
      std::sort(rise_steps_.begin() + static_cast<std::ptrdiff_t>(next_rise_), rise_steps_.end());
    } else if (next == next_flicker_) {
      next_flicker_ = now_ + Exponential(rng_, scenario_.flicker_per_hour);
      if (flicker_delta_ == 0) {
        flicker_delta_ = (rng_() & 1) ? 1 : -1;
        flicker_revert_ = now_ + scenario_.flicker;
        SetUrine(urine_, now_, out);
      }
    } else if (next == flicker_revert_) {
      flicker_revert_ = absl::InfiniteDuration();
      flicker_delta_ = 0;
      SetUrine(urine_, now_, out);
    } else if (next == next_background_) {
      const absl::Duration period = absl::Seconds(1.0 / rate_);
      if (out->size() >= max_changes) {
        // Over budget: drop the background updates due up to t at once.
        const int64_t due = static_cast<int64_t>((t - now_) / period) + 1;
        skipped_ += static_cast<uint64_t>(due);
        next_background_ += period * due;
        continue;
      }
      next_background_ += period;
      if (!los_ && !background_.empty()) {
        const size_t item = background_[rng_() % background_.size()];
        std::normal_distribution<double> step(0, 0.5);
        level_[item] = std::clamp(level_[item] + step(rng_), -1000.0, 1000.0);
        values_[item][kValue] = absl::StrFormat("%.4f", level_[item]);
        Stamp(item, now_);
        Emit(item, out);
      }
    }
  }
  now_ = std::max(now_, t);
}

}  // namespace iss::sim
