#include "services/ingestion/replay_format.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/grpc_util.h"
#include "common/isslive_time.h"
#include "common/json_string.h"
#include "common/utf8.h"

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

// A JSON string; invalid UTF-8 (this text may come off the wire) is
// repaired (U+FFFD) rather than written as bytes no JSON reader accepts.
void PutText(std::string& out, std::string_view s) {
  if (iss::IsValidUtf8(s)) {
    iss::AppendJsonString(out, s);
  } else {
    iss::AppendJsonString(out, iss::RepairUtf8(s));
  }
}

void PutField(std::string& out, std::string_view key, const std::optional<std::string>& v) {
  out += ",\"";
  out += key;
  out += "\":";
  if (v) {
    PutText(out, *v);
  } else {
    out += "null";
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

void AppendReplayLine(std::string& out, const RawUpdate& u) {
  // Written by hand in the documented field order (the recorder writes every
  // update the feed sends: no JSON object tree per line).
  out += "{\"item_id\":";
  PutText(out, u.item_id);
  PutField(out, "value", u.value);
  PutField(out, "timestamp", u.timestamp);
  PutField(out, "status_class", u.status_class);
  PutField(out, "status_indicator", u.status_indicator);
  PutField(out, "status_color", u.status_color);
  PutField(out, "calibrated_data", u.calibrated_data);
  out += ",\"received_at\":\"";
  out += FormatRfc3339Micros(u.received_at);
  out += '"';
  if (u.snapshot) out += ",\"snapshot\":true";
  out += '}';
}

std::string FormatReplayLine(const RawUpdate& u) {
  std::string out;
  AppendReplayLine(out, u);
  return out;
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
