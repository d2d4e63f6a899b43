#include "services/storage/decoder.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/event_id.h"
#include "common/event_rules.h"

namespace iss::storage {
namespace {

using iss::telemetry::v1::TelemetryEvent;

// The text rule (length, NUL, UTF-8) ingestion applied too.
std::optional<std::string> BadText(absl::string_view field, const std::string& text, size_t max) {
  const rules::TextFault f = rules::CheckText(text, max);
  if (f == rules::TextFault::kNone) return std::nullopt;
  return absl::StrCat(field, ": ", rules::Describe(f, max));
}

Rejection Reject(std::string reason, std::string detail, const TelemetryEvent& e) {
  return Rejection{std::move(reason), std::move(detail), e.item_id()};
}

}  // namespace

std::optional<Rejection> DecodeEvent(std::string_view key, std::string_view value, absl::Time now,
                                     const DecodeLimits& limits, TelemetryEvent* out) {
  out->Clear();
  if (!out->ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return Rejection{"undecodable", "value: not a serialized iss.telemetry.v1.TelemetryEvent",
                     std::string(rules::IsValidItemId(key) ? key : "")};
  }
  const TelemetryEvent& e = *out;
  if (e.schema_version() != 1) {
    return Reject("bad_schema_version",
                  absl::StrCat("schema_version: ", e.schema_version(), " is not 1"), e);
  }
  if (!rules::IsValidItemId(e.item_id())) {
    return Rejection{"bad_item_id", "item_id: does not match ^[A-Z0-9_]{1,64}$", ""};
  }
  if (key != e.item_id()) {
    return Reject("key_mismatch", "key: differs from item_id", e);
  }
  if (!IsSha256Hex(e.event_id())) {
    return Reject("bad_event_id", "event_id: not 64 lower-case hex digits", e);
  }
  if (!e.has_source_ts()) return Reject("bad_timestamp", "source_ts: missing", e);
  if (auto f = rules::CheckSourceTime(e.source_ts().seconds(), e.source_ts().nanos(), now);
      f != rules::TimeFault::kNone) {
    return Reject("bad_timestamp", absl::StrCat("source_ts: ", rules::Describe(f)), e);
  }
  // Optional (events from before it existed lack it), but when present held
  // to source_ts's range, as ingestion's validator holds it.
  if (e.has_received_ts()) {
    if (auto f = rules::CheckSourceTime(e.received_ts().seconds(), e.received_ts().nanos(), now);
        f != rules::TimeFault::kNone) {
      return Reject("bad_timestamp", absl::StrCat("received_ts: ", rules::Describe(f)), e);
    }
  }
  if (!e.has_ingest_ts()) return Reject("bad_timestamp", "ingest_ts: missing", e);
  if (auto f = rules::CheckIngestTime(e.ingest_ts().seconds(), e.ingest_ts().nanos());
      f != rules::TimeFault::kNone) {
    return Reject("bad_timestamp", absl::StrCat("ingest_ts: ", rules::Describe(f)), e);
  }
  struct Text {
    absl::string_view field;
    const std::string* text;
    size_t max;
  };
  const Text texts[] = {
      {"value", &e.value(), rules::kMaxValueBytes},
      {"calibrated_data", &e.calibrated_data(), rules::kMaxCalibratedBytes},
      {"status.class", &e.status().class_(), rules::kMaxStatusBytes},
      {"status.indicator", &e.status().indicator(), rules::kMaxStatusBytes},
      {"status.color", &e.status().color(), rules::kMaxStatusBytes},
      {"source", &e.source(), rules::kMaxSourceBytes},
  };
  for (const Text& t : texts) {
    if (auto bad = BadText(t.field, *t.text, t.max)) return Reject("bad_value", *bad, e);
  }
  if (limits.verify_event_id) {
    thread_local std::string expected;  // keeps its capacity: no allocation per event
    ComputeEventId(e, &expected);
    if (expected != e.event_id()) {
      return Reject("event_id_mismatch", "event_id: does not match the event's content", e);
    }
  }
  return std::nullopt;
}

std::optional<double> NumericValue(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  // SimpleAtod skips surrounding blanks; a value with blanks is not a number here.
  if (text.front() == ' ' || text.back() == ' ') return std::nullopt;
  double d = 0;
  if (!absl::SimpleAtod(absl::string_view(text.data(), text.size()), &d) || !std::isfinite(d))
    return std::nullopt;
  return d;
}

int64_t TimestampMicros(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1'000'000 + ts.nanos() / 1000;
}

void SetTimestampMicros(int64_t micros, google::protobuf::Timestamp* ts) {
  int64_t secs = micros / 1'000'000;
  int64_t rem = micros % 1'000'000;
  if (rem < 0) {
    rem += 1'000'000;
    secs -= 1;
  }
  ts->set_seconds(secs);
  ts->set_nanos(static_cast<int32_t>(rem * 1000));
}

void AppendPgTimestamp(std::string& out, int64_t micros) {
  int64_t secs = micros / 1'000'000;
  int64_t frac = micros % 1'000'000;
  if (frac < 0) {
    frac += 1'000'000;
    secs -= 1;
  }
  int64_t days = secs / 86400;
  int64_t sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    days -= 1;
  }
  // Days since 1970-01-01 -> proleptic Gregorian date (era-based conversion).
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);

  char buf[32];
  auto put = [&buf](int pos, int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i) {
      buf[pos + i] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
  };
  put(0, year, 4);
  buf[4] = '-';
  put(5, month, 2);
  buf[7] = '-';
  put(8, day, 2);
  buf[10] = ' ';
  put(11, sod / 3600, 2);
  buf[13] = ':';
  put(14, sod / 60 % 60, 2);
  buf[16] = ':';
  put(17, sod % 60, 2);
  buf[19] = '.';
  put(20, frac, 6);
  buf[26] = '+';
  buf[27] = '0';
  buf[28] = '0';
  out.append(buf, 29);
}

}  // namespace iss::storage
