#include "tools/simulator/scenario.h"

#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace iss::sim {
namespace {

using json = nlohmann::json;

// Reads a JSON object field by field, remembering the first error (with its
// path) and rejecting keys nobody asked for.
class Reader {
 public:
  Reader(const json& obj, std::string path, absl::Status* error)
      : obj_(obj), path_(std::move(path)), error_(error) {
    if (!obj_.is_object()) Fail(path_.empty() ? "scenario" : path_, "expected an object");
  }

  double Number(const char* key, double def, double min, double max) {
    seen_.insert(key);
    if (!obj_.is_object() || !obj_.contains(key)) return def;
    const json& v = obj_[key];
    if (!v.is_number() || v.get<double>() < min || v.get<double>() > max) {
      Fail(Path(key), absl::StrCat("expected a number in [", min, ", ", max, "]"));
      return def;
    }
    return v.get<double>();
  }
  absl::Duration Seconds(const char* key, absl::Duration def, double max_s = 1e7) {
    return absl::Seconds(Number(key, absl::ToDoubleSeconds(def), 0, max_s));
  }
  std::string String(const char* key, const std::string& def) {
    seen_.insert(key);
    if (!obj_.is_object() || !obj_.contains(key)) return def;
    if (!obj_[key].is_string()) {
      Fail(Path(key), "expected a string");
      return def;
    }
    return obj_[key].get<std::string>();
  }
  // Calls fn(element, path) for each element of an array field.
  template <typename Fn>
  void Array(const char* key, Fn fn) {
    seen_.insert(key);
    if (!obj_.is_object() || !obj_.contains(key)) return;
    const json& v = obj_[key];
    if (!v.is_array()) {
      Fail(Path(key), "expected an array");
      return;
    }
    for (size_t i = 0; i < v.size(); ++i) fn(v[i], absl::StrCat(Path(key), "[", i, "]"));
  }
  const json* Object(const char* key) {
    seen_.insert(key);
    if (!obj_.is_object() || !obj_.contains(key)) return nullptr;
    return &obj_[key];
  }
  std::string Path(const char* key) const {
    return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", key);
  }
  // Rejects keys not read.
  void Done() {
    if (!obj_.is_object()) return;
    for (auto it = obj_.begin(); it != obj_.end(); ++it) {
      if (!seen_.count(it.key())) Fail(Path(it.key().c_str()), "unknown key");
    }
  }
  void Fail(const std::string& where, const std::string& what) {
    if (error_->ok()) *error_ = absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
  }

 private:
  const json& obj_;
  std::string path_;
  absl::Status* error_;
  std::set<std::string> seen_;
};

Window ReadWindow(const json& v, const std::string& path, absl::Status* error) {
  Reader r(v, path, error);
  Window w{r.Seconds("start_s", absl::ZeroDuration()), r.Seconds("duration_s", absl::Seconds(60))};
  r.Done();
  return w;
}

}  // namespace

std::string_view FaultName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kDrop:
      return "drop";
    case FaultKind::kStall:
      return "stall";
    case FaultKind::kEnd:
      return "end";
    case FaultKind::kConerr:
      return "conerr";
    case FaultKind::kLoop:
      return "loop";
    case FaultKind::kGarbage:
      return "garbage";
  }
  return "unknown";
}

Scenario DefaultScenario() {
  Scenario s;
  s.urinations = {{absl::Minutes(3), 7, absl::Seconds(5)},
                  {absl::Minutes(35), 5, absl::Seconds(5)}};
  s.processing = {{absl::Minutes(10), absl::Minutes(20)}};
  s.los = {{absl::Minutes(45), absl::Minutes(3)}};
  return s;
}

absl::StatusOr<Scenario> ParseScenario(std::string_view text) {
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("scenario: not valid JSON");
  absl::Status error;
  Scenario s;
  Reader top(doc, "", &error);
  s.seed = static_cast<uint64_t>(top.Number("seed", 1, 0, 9007199254740992.0));
  s.updates_per_second = top.Number("updates_per_second", s.updates_per_second, 0, 1e7);
  s.time_period = top.Seconds("time_period_s", s.time_period, 3600);
  if (s.time_period <= absl::ZeroDuration()) s.time_period = absl::Seconds(1);
  s.duration = top.Seconds("duration_s", s.duration);
  if (const json* urine = top.Object("urine")) {
    Reader u(*urine, "urine", &error);
    s.urine_start_percent =
        static_cast<int>(u.Number("start_percent", s.urine_start_percent, 0, 100));
    u.Array("events", [&](const json& v, const std::string& path) {
      Reader e(v, path, &error);
      Urination ev;
      ev.at = e.Seconds("at_s", absl::ZeroDuration());
      ev.rise_percent = static_cast<int>(e.Number("rise_percent", 7, 1, 100));
      ev.step = e.Seconds("step_s", absl::Seconds(5), 3600);
      if (ev.step <= absl::ZeroDuration()) e.Fail(absl::StrCat(path, ".step_s"), "must be > 0");
      e.Done();
      s.urinations.push_back(ev);
    });
    s.urinations_per_hour = u.Number("per_hour", s.urinations_per_hour, 0, 3600);
    u.Array("processing", [&](const json& v, const std::string& path) {
      s.processing.push_back(ReadWindow(v, path, &error));
    });
    s.drain_step = u.Seconds("drain_step_s", s.drain_step, 86400);
    if (s.drain_step <= absl::ZeroDuration()) u.Fail("urine.drain_step_s", "must be > 0");
    s.flicker_per_hour = u.Number("flicker_per_hour", s.flicker_per_hour, 0, 3600);
    s.flicker = u.Seconds("flicker_s", s.flicker, 3600);
    u.Done();
  }
  top.Array("los", [&](const json& v, const std::string& path) {
    s.los.push_back(ReadWindow(v, path, &error));
  });
  top.Array("faults", [&](const json& v, const std::string& path) {
    Reader f(v, path, &error);
    Fault fault;
    fault.at = f.Seconds("at_s", absl::ZeroDuration());
    const std::string kind = f.String("kind", "");
    bool known = false;
    for (FaultKind k : {FaultKind::kDrop, FaultKind::kStall, FaultKind::kEnd, FaultKind::kConerr,
                        FaultKind::kLoop, FaultKind::kGarbage}) {
      if (kind == FaultName(k)) {
        fault.kind = k;
        known = true;
      }
    }
    if (!known) {
      f.Fail(absl::StrCat(path, ".kind"),
             "expected one of drop, stall, end, conerr, loop, garbage");
    }
    fault.duration = f.Seconds("duration_s", fault.duration);
    fault.lines = static_cast<int>(f.Number("lines", fault.lines, 1, 10000));
    fault.code = static_cast<int>(f.Number("code", fault.code, -1000, 1000));
    fault.count = static_cast<int>(f.Number("count", fault.count, 0, 1000000));
    f.Done();
    s.faults.push_back(fault);
  });
  top.Done();
  if (!error.ok()) return error;
  return s;
}

absl::StatusOr<Scenario> LoadScenario(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open scenario file ", path));
  std::stringstream buf;
  buf << in.rdbuf();
  absl::StatusOr<Scenario> s = ParseScenario(buf.str());
  if (!s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.status().message()));
  }
  return s;
}

}  // namespace iss::sim
