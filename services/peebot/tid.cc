#include "services/peebot/tid.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace iss::peebot {
namespace {

constexpr char kAlphabet[] = "234567abcdefghijklmnopqrstuvwxyz";

// Value of one base32-sortable character, or -1.
int Digit(char c) {
  if (c >= '2' && c <= '7') return c - '2';
  if (c >= 'a' && c <= 'z') return c - 'a' + 6;
  return -1;
}

}  // namespace

std::string FormatTid(int64_t unix_micros, int clock_id) {
  const uint64_t v =
      ((static_cast<uint64_t>(unix_micros) & static_cast<uint64_t>(kTidMaxMicros)) << 10) |
      (static_cast<uint64_t>(clock_id) & 0x3FF);
  std::string out(kTidLength, '2');
  for (size_t i = 0; i < kTidLength; ++i) {
    out[kTidLength - 1 - i] = kAlphabet[(v >> (5 * i)) & 0x1F];
  }
  return out;
}

std::string FormatTid(const Tid& tid) { return FormatTid(tid.unix_micros, tid.clock_id); }

absl::StatusOr<Tid> ParseTid(absl::string_view s) {
  if (s.size() != kTidLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("TID must be ", kTidLength, " characters, got ", s.size(), ": \"", s, "\""));
  }
  uint64_t v = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const int d = Digit(s[i]);
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("TID character ", i + 1, " is not in the alphabet 234567a-z: \"", s, "\""));
    }
    // The first character carries bits 64..60 and there is no bit 64.
    if (i == 0 && d > 15) {
      return absl::InvalidArgumentError(
          absl::StrCat("TID must start with one of 234567abcdefghij: \"", s, "\""));
    }
    v = (v << 5) | static_cast<uint64_t>(d);
  }
  // Bit 63 (which the syntax lets through) is not part of the timestamp.
  return Tid{static_cast<int64_t>(v >> 10) & kTidMaxMicros, static_cast<int>(v & 0x3FF)};
}

bool IsValidTid(absl::string_view s) { return ParseTid(s).ok(); }

absl::StatusOr<std::string> DetectionRecordKey(absl::string_view detection_id,
                                               absl::Time start_time) {
  int head = 0;
  bool hex = detection_id.size() >= 4;
  for (size_t i = 0; hex && i < 4; ++i) {
    const char c = absl::ascii_tolower(detection_id[i]);
    const int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    hex = d >= 0;
    head = head * 16 + d;
  }
  if (!hex) {
    return absl::InvalidArgumentError(
        absl::StrCat("detection_id must start with 4 hex digits to derive a record key: \"",
                     detection_id, "\""));
  }
  const int64_t us = absl::ToUnixMicros(start_time);
  if (start_time < absl::UnixEpoch() || us > kTidMaxMicros) {
    return absl::InvalidArgumentError(
        absl::StrCat("start_time out of the TID range (1970 .. 2255): ",
                     absl::FormatTime(absl::RFC3339_full, start_time, absl::UTCTimeZone())));
  }
  return FormatTid(us, head & 0x3FF);
}

}  // namespace iss::peebot
