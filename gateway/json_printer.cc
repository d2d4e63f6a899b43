#include "gateway/json_printer.h"

#include <cmath>
#include <cstdio>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/stubs/strutil.h"
#include "google/protobuf/util/time_util.h"

namespace iss::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool IsNamed(const Descriptor* d, const char* name) { return d->full_name() == name; }

bool IsWrapper(const Descriptor* d) {
  const std::string& n = d->full_name();
  return n.rfind("google.protobuf.", 0) == 0 && n.size() > 21 &&
         n.compare(n.size() - 5, 5, "Value") == 0 && d->field_count() == 1 &&
         d->field(0)->name() == "value";
}

// Whether every type reachable from `d` is one this printer handles.
bool Supported(const Descriptor* d, absl::flat_hash_map<const Descriptor*, bool>& seen) {
  if (auto it = seen.find(d); it != seen.end()) return it->second;
  seen[d] = true;  // optimistic for recursion
  bool ok = !(IsNamed(d, "google.protobuf.Any") || IsNamed(d, "google.protobuf.Struct") ||
              IsNamed(d, "google.protobuf.Value") || IsNamed(d, "google.protobuf.ListValue"));
  for (int i = 0; ok && i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) ok = Supported(f->message_type(), seen);
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_ENUM &&
        f->enum_type()->full_name() == "google.protobuf.NullValue") {
      ok = false;
    }
  }
  seen[d] = ok;
  return ok;
}

bool SupportedCached(const Descriptor* d) {
  static std::mutex mu;
  static auto* cache = new absl::flat_hash_map<const Descriptor*, bool>();
  std::lock_guard<std::mutex> lock(mu);
  return Supported(d, *cache);
}

void AppendString(std::string& out, const std::string& s) {
  out.push_back('"');
  size_t run = 0;  // start of the pending run of characters that need no escape
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s, run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default: absl::StrAppend(&out, "\\u00", absl::Hex(c, absl::kZeroPad2));
    }
  }
  out.append(s, run, std::string::npos);
  out.push_back('"');
}

// Appends `v` as exactly `width` decimal digits (snprintf is slow here).
void AppendDigits(std::string& out, int64_t v, int width) {
  char buf[20];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out.append(buf, width);
}

// Fraction digits as the JSON mapping prints them: none, 3, 6 or 9.
void AppendNanos(std::string& out, int32_t nanos) {
  if (nanos == 0) return;
  out.push_back('.');
  if (nanos % 1000000 == 0) {
    AppendDigits(out, nanos / 1000000, 3);
  } else if (nanos % 1000 == 0) {
    AppendDigits(out, nanos / 1000, 6);
  } else {
    AppendDigits(out, nanos, 9);
  }
}

// RFC 3339 UTC; years 1..9999 as the mapping allows (others: protobuf's text).
void AppendTimestamp(std::string& out, int64_t secs, int32_t nanos) {
  constexpr int64_t kMin = -62135596800, kMax = 253402300799;
  if (secs < kMin || secs > kMax || nanos < 0 || nanos > 999999999) {
    google::protobuf::Timestamp ts;
    ts.set_seconds(secs);
    ts.set_nanos(nanos);
    absl::StrAppend(&out, "\"", google::protobuf::util::TimeUtil::ToString(ts), "\"");
    return;
  }
  const absl::CivilSecond cs = absl::ToCivilSecond(absl::FromUnixSeconds(secs), absl::UTCTimeZone());
  out.push_back('"');
  AppendDigits(out, cs.year(), 4);
  out.push_back('-');
  AppendDigits(out, cs.month(), 2);
  out.push_back('-');
  AppendDigits(out, cs.day(), 2);
  out.push_back('T');
  AppendDigits(out, cs.hour(), 2);
  out.push_back(':');
  AppendDigits(out, cs.minute(), 2);
  out.push_back(':');
  AppendDigits(out, cs.second(), 2);
  AppendNanos(out, nanos);
  out += "Z\"";
}

void AppendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "\"NaN\"";
  } else if (std::isinf(v)) {
    out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else {
    out += google::protobuf::SimpleDtoa(v);
  }
}

void AppendFloat(std::string& out, float v) {
  if (std::isnan(v)) {
    out += "\"NaN\"";
  } else if (std::isinf(v)) {
    out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else {
    out += google::protobuf::SimpleFtoa(v);
  }
}

void AppendMessage(std::string& out, const Message& msg);

// FieldMask paths print in lowerCamelCase.
std::string CamelPath(const std::string& path) {
  std::string out;
  bool upper = false;
  for (char c : path) {
    if (c == '_') {
      upper = true;
    } else {
      out.push_back(upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c);
      upper = false;
    }
  }
  return out;
}

// One value of field `f` (element `index` when repeated, -1 otherwise).
void AppendValue(std::string& out, const Message& msg, const FieldDescriptor* f, int index) {
  const Reflection* r = msg.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      absl::StrAppend(&out, rep ? r->GetRepeatedInt32(msg, f, index) : r->GetInt32(msg, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      absl::StrAppend(&out, rep ? r->GetRepeatedUInt32(msg, f, index) : r->GetUInt32(msg, f));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      absl::StrAppend(&out, "\"", rep ? r->GetRepeatedInt64(msg, f, index) : r->GetInt64(msg, f), "\"");
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      absl::StrAppend(&out, "\"", rep ? r->GetRepeatedUInt64(msg, f, index) : r->GetUInt64(msg, f), "\"");
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      AppendDouble(out, rep ? r->GetRepeatedDouble(msg, f, index) : r->GetDouble(msg, f));
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      AppendFloat(out, rep ? r->GetRepeatedFloat(msg, f, index) : r->GetFloat(msg, f));
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out += (rep ? r->GetRepeatedBool(msg, f, index) : r->GetBool(msg, f)) ? "true" : "false";
      break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int n = rep ? r->GetRepeatedEnumValue(msg, f, index) : r->GetEnumValue(msg, f);
      if (const auto* ev = f->enum_type()->FindValueByNumber(n)) {
        absl::StrAppend(&out, "\"", ev->name(), "\"");
      } else {
        absl::StrAppend(&out, n);
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = rep ? r->GetRepeatedStringReference(msg, f, index, &scratch)
                                 : r->GetStringReference(msg, f, &scratch);
      if (f->type() == FieldDescriptor::TYPE_BYTES) {
        absl::StrAppend(&out, "\"", absl::Base64Escape(s), "\"");
      } else {
        AppendString(out, s);
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      AppendMessage(out, rep ? r->GetRepeatedMessage(msg, f, index) : r->GetMessage(msg, f));
      break;
  }
}

// Map keys are always JSON strings; 64-bit integers already print quoted.
void AppendMapKey(std::string& out, const Message& entry) {
  const FieldDescriptor* k = entry.GetDescriptor()->field(0);
  const auto t = k->cpp_type();
  if (t == FieldDescriptor::CPPTYPE_STRING || t == FieldDescriptor::CPPTYPE_INT64 ||
      t == FieldDescriptor::CPPTYPE_UINT64) {
    AppendValue(out, entry, k, -1);
    return;
  }
  out.push_back('"');
  AppendValue(out, entry, k, -1);
  out.push_back('"');
}

void AppendMessage(std::string& out, const Message& msg) {
  const Descriptor* d = msg.GetDescriptor();
  const Reflection* r = msg.GetReflection();
  if (IsNamed(d, "google.protobuf.Timestamp") || IsNamed(d, "google.protobuf.Duration")) {
    // TimeUtil prints exactly what the JSON mapping wants (0/3/6/9 digits).
    const int64_t secs = r->GetInt64(msg, d->field(0));
    const int32_t nanos = r->GetInt32(msg, d->field(1));
    if (IsNamed(d, "google.protobuf.Timestamp")) {
      AppendTimestamp(out, secs, nanos);
    } else {
      google::protobuf::Duration du;
      du.set_seconds(secs);
      du.set_nanos(nanos);
      absl::StrAppend(&out, "\"", google::protobuf::util::TimeUtil::ToString(du), "\"");
    }
    return;
  }
  if (IsWrapper(d)) return AppendValue(out, msg, d->field(0), -1);
  if (IsNamed(d, "google.protobuf.FieldMask")) {
    std::string joined;
    const FieldDescriptor* paths = d->field(0);
    for (int i = 0; i < r->FieldSize(msg, paths); ++i) {
      if (i) joined += ",";
      joined += CamelPath(r->GetRepeatedString(msg, paths, i));
    }
    AppendString(out, joined);
    return;
  }
  out.push_back('{');
  bool first = true;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->is_repeated()) {
      // Empty repeated fields and maps are printed too ([] / {}).
    } else if (f->has_presence() && !r->HasField(msg, f)) {
      continue;  // unset messages, oneof members, proto3 `optional`
    }
    if (!first) out.push_back(',');
    first = false;
    absl::StrAppend(&out, "\"", f->json_name(), "\":");
    if (f->is_map()) {
      out.push_back('{');
      const int n = r->FieldSize(msg, f);
      for (int j = 0; j < n; ++j) {
        const Message& entry = r->GetRepeatedMessage(msg, f, j);
        if (j) out.push_back(',');
        AppendMapKey(out, entry);
        out.push_back(':');
        AppendValue(out, entry, entry.GetDescriptor()->field(1), -1);
      }
      out.push_back('}');
    } else if (f->is_repeated()) {
      out.push_back('[');
      const int n = r->FieldSize(msg, f);
      for (int j = 0; j < n; ++j) {
        if (j) out.push_back(',');
        AppendValue(out, msg, f, j);
      }
      out.push_back(']');
    } else {
      AppendValue(out, msg, f, -1);
    }
  }
  out.push_back('}');
}

}  // namespace

bool FastMessageToJson(const Message& msg, std::string* out) {
  if (!SupportedCached(msg.GetDescriptor())) return false;
  AppendMessage(*out, msg);
  return true;
}

}  // namespace iss::gateway
