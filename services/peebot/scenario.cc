#include "services/peebot/scenario.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/catalog.h"

namespace iss::peebot {
namespace {

absl::Time At(double seconds) {
  return ScenarioEpoch() + absl::Microseconds(static_cast<int64_t>(seconds * 1e6));
}

// Small deterministic generator (splitmix64), so shuffles are reproducible.
uint64_t Mix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

struct Pending {
  Sample sample;
  double deliver_at;
  size_t seq;
};

}  // namespace

absl::Time ScenarioEpoch() { return absl::FromUnixSeconds(1768046400); }  // 2026-01-10T12:00Z

absl::StatusOr<Scenario> ParseScenario(absl::string_view name, absl::string_view text) {
  Scenario sc;
  sc.name = std::string(name);
  std::vector<Pending> samples;
  std::string mode = "sorted";
  double shuffle_window = 0;
  uint64_t seed = 0;
  std::string skew_item;
  double skew_s = 0;
  double ingest_delay = 0;
  int line_no = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_no;
    absl::string_view line = raw.substr(0, raw.find('#'));
    std::vector<absl::string_view> f =
        absl::StrSplit(absl::StripAsciiWhitespace(line), ' ', absl::SkipEmpty());
    if (f.empty()) continue;
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ":", line_no, ": ", why, " in '", raw, "'"));
    };
    auto num = [&](size_t i, double* out) { return i < f.size() && absl::SimpleAtod(f[i], out); };
    // Optional key=value words after the positional ones.
    auto opt = [&](size_t from, absl::string_view key) -> std::optional<std::string> {
      for (size_t i = from; i < f.size(); ++i) {
        if (absl::StartsWith(f[i], absl::StrCat(key, "="))) {
          return std::string(f[i].substr(key.size() + 1));
        }
      }
      return std::nullopt;
    };
    const absl::string_view cmd = f[0];
    double a = 0, b = 0, c = 0, d = 0;
    if (cmd == "set") {
      if (f.size() != 3 || !num(2, &a)) return bad("expected: set NAME NUMBER");
      if (f[1] == "min_rise") {
        sc.config.min_rise_percent = a;
      } else if (f[1] == "max_step_gap") {
        sc.config.max_step_gap = absl::Seconds(a);
      } else if (f[1] == "max_sample_lag") {
        sc.config.max_sample_lag = absl::Seconds(a);
      } else if (f[1] == "allowed_lateness") {
        sc.config.allowed_lateness = absl::Seconds(a);
      } else if (f[1] == "ingest_delay") {
        ingest_delay = a;
      } else {
        return bad("unknown setting");
      }
    } else if (cmd == "ticks") {
      if (!num(1, &a) || !num(2, &b) || !num(3, &c) || c <= 0) {
        return bad("expected: ticks FROM TO EVERY [los]");
      }
      const bool los = f.size() > 4 && f[4] == "los";
      for (double t = a; t <= b + 1e-9; t += c) {
        Sample s;
        s.item_id = std::string(iss::kTimeItem);
        s.source_ts = At(t);
        s.received_ts = At(t + 0.2);
        s.value = absl::StrCat(t);
        s.status_class = los ? "0" : "24";
        samples.push_back({s, t, samples.size()});
      }
    } else if (cmd == "tank" || cmd == "proc") {
      if (!num(1, &a) || f.size() < 3) return bad("expected: tank T LEVEL");
      Sample s;
      s.item_id = cmd == "proc" ? std::string(iss::kUrineProcessorItem)
                                : opt(3, "item").value_or(std::string(iss::kUrineTankItem));
      s.source_ts = At(a);
      double lag = 0.5;
      if (auto l = opt(3, "lag"); l && !absl::SimpleAtod(*l, &lag)) return bad("bad lag");
      s.received_ts = At(a + lag);
      s.value = std::string(f[2]);
      samples.push_back({s, a + lag, samples.size()});
    } else if (cmd == "deliver") {
      if (f.size() == 2 && f[1] == "sorted") {
        mode = "sorted";
      } else if (f.size() == 4 && f[1] == "shuffle" && num(2, &shuffle_window) &&
                 absl::SimpleAtoi(f[3], &seed)) {
        mode = "shuffle";
      } else if (f.size() == 4 && f[1] == "skew" && num(3, &skew_s)) {
        mode = "skew";
        skew_item = std::string(f[2]);
      } else {
        return bad("expected: deliver sorted | shuffle WINDOW SEED | skew ITEM SECONDS");
      }
    } else if (cmd == "expect") {
      if (!num(1, &a) || !num(2, &b) || !num(3, &c) || !num(4, &d)) {
        return bad("expected: expect START END FROM TO");
      }
      Detection det;
      det.item_id = opt(5, "item").value_or(std::string(iss::kUrineTankItem));
      det.start_time = At(a);
      det.end_time = At(b);
      det.start_level = c;
      det.end_level = d;
      det.rise = d - c;
      det.detection_id = DetectionId(det.item_id, det.start_time);
      sc.expected.push_back(det);
    } else {
      return bad("unknown directive");
    }
  }
  for (const Detection& e : sc.expected) {
    if (std::find(sc.config.tank_items.begin(), sc.config.tank_items.end(), e.item_id) ==
        sc.config.tank_items.end()) {
      sc.config.tank_items.push_back(e.item_id);
    }
  }
  uint64_t state = seed;
  for (Pending& p : samples) {
    p.sample.ingest_ts = p.sample.received_ts + absl::Seconds(ingest_delay);
    p.deliver_at = absl::ToDoubleSeconds(p.sample.source_ts - ScenarioEpoch());
    if (mode == "shuffle") {
      p.deliver_at += shuffle_window * static_cast<double>(Mix(state) % 1000000) / 1e6;
    } else if (mode == "skew" && p.sample.item_id == skew_item) {
      p.deliver_at += skew_s;
    }
  }
  std::stable_sort(samples.begin(), samples.end(),
                   [](const Pending& x, const Pending& y) { return x.deliver_at < y.deliver_at; });
  for (Pending& p : samples) sc.delivery.push_back(std::move(p.sample));
  return sc;
}

absl::StatusOr<Scenario> LoadScenario(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  std::string name = path.substr(path.find_last_of('/') + 1);
  return ParseScenario(name, text.str());
}

std::vector<Detection> RunScenario(const Scenario& scenario) {
  Detector detector(scenario.config);
  std::vector<Detection> out;
  for (const Sample& s : scenario.delivery) detector.Add(s, &out);
  detector.Drain(&out);
  return out;
}

}  // namespace iss::peebot
