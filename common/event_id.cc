#include "common/event_id.h"

#include <openssl/evp.h>

#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/grpc_util.h"

namespace iss {
namespace {

void AppendField(std::string& out, bool present, std::string_view value) {
  if (!present) {
    out += "\\N";
    return;
  }
  // Copy runs without '\' and '|' in one go; most values have none.
  size_t start = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\\' || c == '|') {
      out.append(value.data() + start, i - start);
      out.push_back('\\');
      start = i;  // the character itself goes out with the next run
    }
  }
  out.append(value.data() + start, value.size() - start);
}

void AppendCanonical(const iss::telemetry::v1::TelemetryEvent& e, std::string& out) {
  AppendField(out, true, e.item_id());
  out.push_back('|');
  AppendRfc3339Micros(FromProto(e.source_ts()), &out);
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
}

// OpenSSL 3 looks the algorithm up in the provider store on every
// EVP_Digest(EVP_sha256()) call; fetch it once for the process and keep one
// context per thread, so a digest is init + update + final and no allocation.
const EVP_MD* Sha256Md() {
  static const EVP_MD* const md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? fetched : EVP_sha256();  // never freed: lives as long as we do
  }();
  return md;
}

struct CtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// Writes the 64 lower-case hex digits of SHA-256(data) to `hex`.
void Sha256HexInto(std::string_view data, char* hex) {
  thread_local std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  bool ok = ctx != nullptr && EVP_DigestInit_ex2(ctx.get(), Sha256Md(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx.get(), data.data(), data.size()) == 1 &&
            EVP_DigestFinal_ex(ctx.get(), digest, &len) == 1 && len == 32;
  if (!ok) {
    // Only if OpenSSL itself is broken (allocation failure): the slow, stateless way.
    ok =
        EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) == 1 && len == 32;
    if (!ok) std::abort();  // an id we cannot compute must never be made up
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < 32; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0xf];
  }
}

}  // namespace

std::string CanonicalEventString(const iss::telemetry::v1::TelemetryEvent& e) {
  std::string out;
  out.reserve(128 + e.value().size() + e.calibrated_data().size());
  AppendCanonical(e, out);
  return out;
}

bool IsSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string Sha256Hex(std::string_view data) {
  std::string hex(64, '\0');
  Sha256HexInto(data, hex.data());
  return hex;
}

std::string Fingerprint(std::string_view secret) { return Sha256Hex(secret).substr(0, 12); }

std::string ComputeEventId(const iss::telemetry::v1::TelemetryEvent& event) {
  std::string id;
  ComputeEventId(event, &id);
  return id;
}

void ComputeEventId(const iss::telemetry::v1::TelemetryEvent& event, std::string* out) {
  // One canonical buffer per thread: its capacity is kept between events.
  thread_local std::string canonical;
  canonical.clear();
  AppendCanonical(event, canonical);
  out->resize(64);
  Sha256HexInto(canonical, out->data());
}

}  // namespace iss
