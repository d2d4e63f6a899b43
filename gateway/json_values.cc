#include "gateway/json_values.h"

#include <cmath>
#include <cstring>

#include "absl/base/const_init.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/utc_days.h"
#include "google/protobuf/stubs/strutil.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/time_util.h"

namespace iss::gateway::json_internal {

// The wrappers (google.protobuf.Int64Value, ...): printed as their bare value.
bool IsWrapper(const Descriptor* d) {
  const WellKnown w = d->well_known_type();
  return w >= Descriptor::WELLKNOWNTYPE_DOUBLEVALUE && w <= Descriptor::WELLKNOWNTYPE_BOOLVALUE;
}

// Any, Struct, Value, ListValue: left to protobuf's printer.
bool IsDynamicJson(const Descriptor* d) {
  const WellKnown w = d->well_known_type();
  return w == Descriptor::WELLKNOWNTYPE_ANY || w == Descriptor::WELLKNOWNTYPE_STRUCT ||
         w == Descriptor::WELLKNOWNTYPE_VALUE || w == Descriptor::WELLKNOWNTYPE_LISTVALUE;
}

// Whether every type reachable from `d` is one this printer handles.
bool Supported(const Descriptor* d, absl::flat_hash_map<const Descriptor*, bool>& seen) {
  if (auto it = seen.find(d); it != seen.end()) return it->second;
  seen[d] = true;  // optimistic for recursion
  bool ok = !IsDynamicJson(d);
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
  static absl::Mutex mu(absl::kConstInit);
  static auto* cache ABSL_GUARDED_BY(mu) = new absl::flat_hash_map<const Descriptor*, bool>();
  absl::MutexLock lock(&mu);
  return Supported(d, *cache);
}

// RFC 3339 UTC; years 1..9999 as the mapping allows (others: protobuf's text).
void AppendTimestamp(std::string& out, int64_t secs, int32_t nanos, DateCache* cache) {
  constexpr int64_t kMin = -62135596800, kMax = 253402300799;
  if (secs < kMin || secs > kMax || nanos < 0 || nanos > 999999999) {
    google::protobuf::Timestamp ts;
    ts.set_seconds(secs);
    ts.set_nanos(nanos);
    absl::StrAppend(&out, "\"", google::protobuf::util::TimeUtil::ToString(ts), "\"");
    return;
  }
  // common/utc_days.h: the civil date without cctz's time-zone machinery.
  const int64_t days = DayOfUnixSeconds(secs);
  char buf[32];  // "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ"
  buf[0] = '"';
  if (cache != nullptr && cache->days == days) {
    std::memcpy(buf + 1, cache->text, 10);
  } else {
    WriteCivilDate(days, buf + 1);
    if (cache != nullptr) {
      cache->days = days;
      std::memcpy(cache->text, buf + 1, 10);
    }
  }
  buf[11] = 'T';
  WriteTimeOfDay(static_cast<int>(secs - days * 86400), buf + 12);
  char* p = buf + 20;
  if (nanos != 0) {  // 3, 6 or 9 fraction digits, as the JSON mapping prints them
    int v = nanos, digits = 9;
    if (nanos % 1000000 == 0) {
      v = nanos / 1000000;
      digits = 3;
    } else if (nanos % 1000 == 0) {
      v = nanos / 1000;
      digits = 6;
    }
    *p++ = '.';
    for (int i = digits - 1; i >= 0; --i) {
      p[i] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
    p += digits;
  }
  *p++ = 'Z';
  *p++ = '"';
  out.append(buf, static_cast<size_t>(p - buf));
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

}  // namespace iss::gateway::json_internal
