#include "common/health.h"

#include "common/log.h"

namespace iss {

void Health::Declare(const std::string& name, bool required) {
  {
    absl::MutexLock lock(&mu_);
    Dependency& d = deps_[name];
    d.name = name;
    d.required = required;
    d.up = false;
    d.detail = "not checked yet";
    d.since = absl::Now();
  }
  Notify();
}

void Health::Set(const std::string& name, bool up, const std::string& detail) {
  {
    absl::MutexLock lock(&mu_);
    Dependency& d = deps_[name];
    if (d.name == name && d.up == up && d.detail == detail) return;
    const bool changed = d.name != name || d.up != up;
    d.name = name;
    d.up = up;
    d.detail = detail;
    if (changed) d.since = absl::Now();
    if (!changed) return;
  }
  log::Write(up ? log::Level::kInfo : log::Level::kWarn, up ? "dependency up" : "dependency down",
             {{"dependency", name}, {"detail", detail}});
  Notify();
}

void Health::SetShuttingDown() {
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
  }
  Notify();
}

bool Health::Serving() const {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return false;
  for (const auto& [name, d] : deps_) {
    if (d.required && !d.up) return false;
  }
  return true;
}

std::vector<Health::Dependency> Health::Snapshot() const {
  absl::MutexLock lock(&mu_);
  std::vector<Dependency> out;
  for (const auto& [name, d] : deps_) out.push_back(d);
  return out;
}

std::string Health::ToJson() const {
  const bool serving = Serving();
  std::string out = serving ? "{\"status\":\"SERVING\"" : "{\"status\":\"NOT_SERVING\"";
  out += ",\"dependencies\":[";
  bool first = true;
  for (const auto& d : Snapshot()) {
    if (!first) out += ",";
    first = false;
    out += "{\"name\":";
    log::AppendJsonString(out, d.name);
    out += d.up ? ",\"up\":true" : ",\"up\":false";
    out += d.required ? ",\"required\":true" : ",\"required\":false";
    out += ",\"detail\":";
    log::AppendJsonString(out, d.detail);
    out += "}";
  }
  out += "]}";
  return out;
}

void Health::OnChange(std::function<void(bool)> listener) {
  absl::MutexLock lock(&mu_);
  listeners_.push_back(std::move(listener));
}

void Health::Notify() {
  std::vector<std::function<void(bool)>> listeners;
  {
    absl::MutexLock lock(&mu_);
    listeners = listeners_;
  }
  const bool serving = Serving();
  for (auto& l : listeners) l(serving);
}

}  // namespace iss
