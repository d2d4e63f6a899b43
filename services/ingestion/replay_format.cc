#include "services/ingestion/replay_format.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/grpc_util.h"
#include "common/isslive_time.h"

namespace iss::ingest {
namespace {

using json = nlohmann::json;

absl::Status Field(const json& obj, const char* name, std::optional<std::string>* out) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) {
    out->reset();
    return absl::OkStatus();
  }
  if (!it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("field ", name, ": expected a string or null"));
  }
  *out = it->get<std::string>();
  return absl::OkStatus();
}

void PutField(json& obj, const char* name, const std::optional<std::string>& v) {
  if (v) {
    obj[name] = *v;
  } else {
    obj[name] = nullptr;
  }
}

}  // namespace

absl::StatusOr<RawUpdate> ParseReplayLine(std::string_view line, std::string_view source) {
  json obj = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (obj.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  if (!obj.is_object()) return absl::InvalidArgumentError("not a JSON object");
  RawUpdate u;
  u.source = std::string(source);
  u.raw = std::string(line);
  auto id = obj.find("item_id");
  if (id == obj.end() || !id->is_string()) {
    return absl::InvalidArgumentError("field item_id: missing or not a string");
  }
  u.item_id = id->get<std::string>();
  for (auto [name, out] : {std::pair{"value", &u.value}, std::pair{"timestamp", &u.timestamp},
                           std::pair{"status_class", &u.status_class},
                           std::pair{"status_indicator", &u.status_indicator},
                           std::pair{"status_color", &u.status_color},
                           std::pair{"calibrated_data", &u.calibrated_data}}) {
    if (auto s = Field(obj, name, out); !s.ok()) return s;
  }
  auto rx = obj.find("received_at");
  if (rx == obj.end() || rx->is_null()) {
    u.received_at = absl::Now();
  } else {
    std::string err;
    if (!rx->is_string() ||
        !absl::ParseTime(absl::RFC3339_full, rx->get<std::string>(), &u.received_at, &err)) {
      return absl::InvalidArgumentError("field received_at: expected an RFC 3339 time");
    }
  }
  if (auto snap = obj.find("snapshot"); snap != obj.end() && snap->is_boolean()) {
    u.snapshot = snap->get<bool>();
  }
  return u;
}

std::string FormatReplayLine(const RawUpdate& u) {
  json obj = json::object();
  obj["item_id"] = u.item_id;
  PutField(obj, "value", u.value);
  PutField(obj, "timestamp", u.timestamp);
  PutField(obj, "status_class", u.status_class);
  PutField(obj, "status_indicator", u.status_indicator);
  PutField(obj, "status_color", u.status_color);
  PutField(obj, "calibrated_data", u.calibrated_data);
  obj["received_at"] = FormatRfc3339Micros(u.received_at);
  if (u.snapshot) obj["snapshot"] = true;
  // Replace invalid UTF-8 rather than throw: this text may come off the wire.
  return obj.dump(-1, ' ', false, json::error_handler_t::replace);
}

RawUpdate UpdateFromEvent(const iss::telemetry::v1::TelemetryEvent& e) {
  RawUpdate u;
  u.item_id = e.item_id();
  if (e.has_value()) u.value = e.value();
  u.timestamp = iss::FormatIssTimestamp(iss::FromProto(e.source_ts()));
  if (e.status().has_class_()) u.status_class = e.status().class_();
  if (e.status().has_indicator()) u.status_indicator = e.status().indicator();
  if (e.status().has_color()) u.status_color = e.status().color();
  if (e.has_calibrated_data()) u.calibrated_data = e.calibrated_data();
  u.received_at = iss::FromProto(e.has_received_ts() ? e.received_ts() : e.ingest_ts());
  u.source = e.source();
  return u;
}

}  // namespace iss::ingest
