// Owns: the pieces both JSON printers (json_printer.cc from a message,
// wire_json.cc straight from its bytes) write values with, so that the two
// print byte-identical JSON: which types are printed here rather than by
// protobuf, RFC 3339 timestamps, numbers as the proto3 JSON mapping writes
// them, FieldMask paths. Internal to the gateway's printers.
#pragma once

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "google/protobuf/descriptor.h"

namespace iss::gateway::json_internal {

// The protobuf names both printers (and json_values.cc) use, declared once.
using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using WellKnown = google::protobuf::Descriptor::WellKnownType;

// google.protobuf.Int64Value & co.: printed as their bare value.
bool IsWrapper(const google::protobuf::Descriptor* d);
// Any, Struct, Value, ListValue: left to protobuf's printer.
bool IsDynamicJson(const google::protobuf::Descriptor* d);
// Whether every type reachable from `d` is one these printers handle;
// `seen` memoizes (and breaks recursion).
bool Supported(const google::protobuf::Descriptor* d,
               absl::flat_hash_map<const google::protobuf::Descriptor*, bool>& seen);
// The same with a process-wide memo.
bool SupportedCached(const google::protobuf::Descriptor* d);

// The date part of the last timestamp printed: answers mostly hold times of
// one day.
struct DateCache {
  int64_t days = std::numeric_limits<int64_t>::min();
  char text[10];  // YYYY-MM-DD
};

// RFC 3339 UTC; years 1..9999 as the mapping allows (others: protobuf's text).
void AppendTimestamp(std::string& out, int64_t secs, int32_t nanos, DateCache* cache = nullptr);

// 64-bit integers are quoted in proto3 JSON, 32-bit ones are not.
template <typename Int>
void AppendInt(std::string& out, Int v, bool quoted) {
  char buf[32];
  char* p = buf;
  if (quoted) *p++ = '"';
  p = std::to_chars(p, buf + sizeof(buf), v).ptr;
  if (quoted) *p++ = '"';
  out.append(buf, static_cast<size_t>(p - buf));
}

// Shortest round-trip text; NaN and infinities as the mapping's strings.
void AppendDouble(std::string& out, double v);
void AppendFloat(std::string& out, float v);

// FieldMask paths print in lowerCamelCase.
std::string CamelPath(const std::string& path);

}  // namespace iss::gateway::json_internal
