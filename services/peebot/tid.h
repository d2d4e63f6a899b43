// Owns: AT Protocol TIDs ("timestamp identifiers", atproto.com/specs/tid), the
// record keys of Bluesky posts, and the deterministic key of a detection's post.
//
// A TID is a 64-bit integer (top bit 0, then 53 bits of microseconds since the
// Unix epoch, then a 10-bit clock id) written as 13 characters of the
// base32-sortable alphabet "234567abcdefghijklmnopqrstuvwxyz", most significant
// first. 13 x 5 = 65 bits, so the spec's syntax allows only "234567abcdefghij"
// (5-bit values 0..15) first; encoders leave the top bit 0 (first character at
// most 'b'), and decoding ignores it.
//
// Why a deterministic key: a post re-sent after an unknown outcome (timeout,
// crash) carries the same rkey, so the PDS cannot hold two posts for one
// detection, and getRecord(rkey) answers whether the first attempt landed.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace iss::peebot {

inline constexpr size_t kTidLength = 13;
inline constexpr int64_t kTidMaxMicros = (int64_t{1} << 53) - 1;
inline constexpr int kTidMaxClockId = 1023;

struct Tid {
  int64_t unix_micros = 0;  // 0 .. 2^53-1
  int clock_id = 0;         // 0 .. 1023
};

// Encodes like the reference implementations: the timestamp is masked to 53
// bits and the clock id to 10 bits (so any input gives a valid TID).
std::string FormatTid(int64_t unix_micros, int clock_id);
std::string FormatTid(const Tid& tid);

// The spec's syntax: ^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$
// (case-sensitive, no dashes).
bool IsValidTid(absl::string_view s);

// INVALID_ARGUMENT naming what is wrong with `s`.
absl::StatusOr<Tid> ParseTid(absl::string_view s);

// The record key of a detection's post: timestamp = the detection's start time
// (event time, microseconds), clock id = the first 16 bits of the hex
// detection_id & 0x3FF. Two detections collide only with the same start
// microsecond and p = 1/1024; getRecord's text comparison catches that.
// INVALID_ARGUMENT for a detection_id without 4 leading hex digits or a start
// time outside 1970 .. 2255.
absl::StatusOr<std::string> DetectionRecordKey(absl::string_view detection_id,
                                               absl::Time start_time);

}  // namespace iss::peebot
