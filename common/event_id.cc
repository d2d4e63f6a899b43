#include "common/event_id.h"

#include <openssl/sha.h>

#include <charconv>
#include <cstring>

#include "common/grpc_util.h"

namespace iss {
namespace {

// Scratch space for canonical strings, reused by a thread from event to event.
struct CanonicalBuffer {
  std::string time;   // source_ts as RFC 3339
  std::string bytes;  // its size is the room to write in, not the string's length
};

// `value` with '\' and '|' escaped, or \N when absent. One character at a
// time into room sized for the worst case: for the short values events carry
// this is about three times faster than appending runs to a std::string.
char* WriteField(char* p, bool present, std::string_view value) {
  if (!present) {
    p[0] = '\\';
    p[1] = 'N';
    return p + 2;
  }
  for (const char c : value) {
    if (c == '\\' || c == '|') *p++ = '\\';
    *p++ = c;
  }
  return p;
}

// The canonical string of `e`, written into `buf`.
std::string_view WriteCanonical(const iss::telemetry::v1::TelemetryEvent& e, CanonicalBuffer& buf) {
  buf.time.clear();
  AppendRfc3339Micros(FromProto(e.source_ts()), &buf.time);
  const auto& s = e.status();
  // Every character escaped, \N for each of the 5 optional fields, 7
  // separators and a uint32 in decimal (at most 10 digits).
  const size_t room = 2 * (e.item_id().size() + e.value().size() + s.class_().size() +
                           s.indicator().size() + s.color().size() + e.calibrated_data().size()) +
                      buf.time.size() + 5 * 2 + 7 + 10;
  if (buf.bytes.size() < room) buf.bytes.resize(room);  // grows once per thread, in practice
  char* const begin = buf.bytes.data();
  char* p = WriteField(begin, true, e.item_id());
  *p++ = '|';
  std::memcpy(p, buf.time.data(), buf.time.size());
  p += buf.time.size();
  *p++ = '|';
  p = WriteField(p, e.has_value(), e.value());
  *p++ = '|';
  p = WriteField(p, s.has_class_(), s.class_());
  *p++ = '|';
  p = WriteField(p, s.has_indicator(), s.indicator());
  *p++ = '|';
  p = WriteField(p, s.has_color(), s.color());
  *p++ = '|';
  p = WriteField(p, e.has_calibrated_data(), e.calibrated_data());
  *p++ = '|';
  p = std::to_chars(p, begin + buf.bytes.size(), e.schema_version()).ptr;
  return std::string_view(begin, static_cast<size_t>(p - begin));
}

// Writes the 64 lower-case hex digits of SHA-256(data) to `hex`.
//
// OpenSSL 3 deprecates SHA256_Init/_Update/_Final in favour of EVP, but keeps
// them; EVP's provider dispatch (init, update and final each through a
// function table, even with a fetched digest and a reused context) cost ~50
// ns per digest here, a third of an event id. Same SHA-NI/AVX2 code either
// way; these calls cannot fail.
void Sha256HexInto(std::string_view data, char* hex) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, data.data(), data.size());
  SHA256_Final(digest, &ctx);
#pragma GCC diagnostic pop
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < SHA256_DIGEST_LENGTH; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0xf];
  }
}

}  // namespace

std::string CanonicalEventString(const iss::telemetry::v1::TelemetryEvent& e) {
  CanonicalBuffer buf;
  return std::string(WriteCanonical(e, buf));
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
  thread_local CanonicalBuffer buf;
  const std::string_view canonical = WriteCanonical(event, buf);
  out->resize(64);
  Sha256HexInto(canonical, out->data());
}

}  // namespace iss
