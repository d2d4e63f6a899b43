#include "common/event_id.h"

#include <openssl/evp.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_util.h"

namespace iss {
namespace {

void AppendField(std::string& out, bool present, std::string_view value) {
  if (!present) {
    out += "\\N";
    return;
  }
  for (char c : value) {
    if (c == '\\' || c == '|') out.push_back('\\');
    out.push_back(c);
  }
}

}  // namespace

std::string CanonicalEventString(const iss::telemetry::v1::TelemetryEvent& e) {
  std::string out;
  out.reserve(128 + e.value().size() + e.calibrated_data().size());
  AppendField(out, true, e.item_id());
  out.push_back('|');
  out += FormatRfc3339Micros(FromProto(e.source_ts()));
  out.push_back('|');
  AppendField(out, e.has_value(), e.value());
  out.push_back('|');
  AppendField(out, e.status().has_class_(), e.status().class_());
  out.push_back('|');
  AppendField(out, e.status().has_indicator(), e.status().indicator());
  out.push_back('|');
  AppendField(out, e.status().has_color(), e.status().color());
  out.push_back('|');
  AppendField(out, e.has_calibrated_data(), e.calibrated_data());
  out.push_back('|');
  absl::StrAppend(&out, e.schema_version());
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), len));
}

std::string ComputeEventId(const iss::telemetry::v1::TelemetryEvent& event) {
  return Sha256Hex(CanonicalEventString(event));
}

}  // namespace iss
