#include "services/ingestion/validator.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/catalog.h"
#include "common/event_rules.h"
#include "common/isslive_time.h"

namespace iss::ingest {
namespace {

// Status payload key that carries the reason code next to the message.
constexpr char kReasonPayload[] = "type.iss.dev/iss.ingest.RejectReason";

// Debian's Abseil has its own string_view type, distinct from std's.
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// A text field against storage's rule, as a rejection naming the field.
absl::Status CheckField(const char* field, const std::optional<std::string>& value, size_t max) {
  if (!value) return absl::OkStatus();
  switch (rules::CheckText(*value, max)) {
    case rules::TextFault::kNone:
      return absl::OkStatus();
    case rules::TextFault::kTooLong:
      return Rejection(kFieldTooLong, absl::StrCat("field ", field, ": ", value->size(),
                                                   " bytes, at most ", max, " allowed"));
    case rules::TextFault::kNul:
      return Rejection(kNulCharacter, absl::StrCat("field ", field, ": contains a NUL character"));
    case rules::TextFault::kNotUtf8:
      return Rejection(kBadUtf8, absl::StrCat("field ", field, ": is not valid UTF-8"));
  }
  return absl::OkStatus();
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
}

// The source time against storage's range. `field` names it as the caller
// knows it; `given` is what the caller sent (quoted back), or empty.
absl::Status CheckSourceRange(const char* field, std::string_view given, absl::Time source_ts,
                              absl::Time now) {
  const rules::TimeFault f = rules::CheckSourceTime(source_ts, now);
  if (f == rules::TimeFault::kNone) return absl::OkStatus();
  return Rejection(kBadTimestamp,
                   absl::StrCat("field ", field, ": ", given.empty() ? "" : "\"", AV(given),
                                given.empty() ? "" : "\" = ", Rfc3339(source_ts), " is ",
                                rules::Describe(f), "; storage would refuse it"));
}

// ingest_ts is `now`: a clock before the ISS existed would have storage
// refuse every event.
absl::Status CheckIngestClock(absl::Time now) {
  const rules::TimeFault f = rules::CheckIngestTime(now);
  if (f == rules::TimeFault::kNone) return absl::OkStatus();
  return Rejection(kBadTimestamp, absl::StrCat("field ingest_ts: this server's clock reads ",
                                               Rfc3339(now), ", ", rules::Describe(f)));
}

// The rules shared by both entry points, applied after the timestamp. `U` is
// RawUpdate or ValidatedUpdate (the same field names).
template <typename U>
absl::Status CheckCommon(const U& u) {
  if (!IsValidItemId(u.item_id)) {
    return Rejection(kBadItemId,
                     absl::StrCat("field item_id: \"", u.item_id.substr(0, kMaxItemIdBytes + 1),
                                  "\" does not match ^[A-Z0-9_]{1,64}$"));
  }
  if (!u.value && u.item_id != kTimeItem) {
    return Rejection(kMissingValue, "field value: null is only allowed for TIME_000001");
  }
  if (auto s = CheckField("value", u.value, kMaxValueBytes); !s.ok()) return s;
  if (auto s = CheckField("status_class", u.status_class, kMaxStatusBytes); !s.ok()) return s;
  if (auto s = CheckField("status_indicator", u.status_indicator, kMaxStatusBytes); !s.ok()) {
    return s;
  }
  if (auto s = CheckField("status_color", u.status_color, kMaxStatusBytes); !s.ok()) return s;
  return CheckField("calibrated_data", u.calibrated_data, kMaxCalibratedBytes);
}

}  // namespace

absl::Status Rejection(std::string_view reason, std::string_view detail) {
  absl::Status s = absl::InvalidArgumentError(AV(detail));
  s.SetPayload(kReasonPayload, absl::Cord(AV(reason)));
  return s;
}

std::string RejectReason(const absl::Status& status) {
  if (auto p = status.GetPayload(kReasonPayload)) return std::string(*p);
  return "invalid";
}

namespace {

// Every rule for a feed update, checked on the update itself (nothing copied
// yet): the source time if it passes, the rejection if not.
absl::StatusOr<absl::Time> CheckRaw(const RawUpdate& update, absl::Time now) {
  // Item id first: a DLQ consumer wants the most basic fault reported.
  if (!IsValidItemId(update.item_id)) return CheckCommon(update);
  if (!update.timestamp || update.timestamp->empty()) {
    return Rejection(kMissingTimestamp, "field timestamp (TimeStamp): null or empty");
  }
  if (update.timestamp->size() > kMaxTimestampBytes) {
    return Rejection(kFieldTooLong,
                     absl::StrCat("field timestamp (TimeStamp): ", update.timestamp->size(),
                                  " bytes, at most ", kMaxTimestampBytes, " allowed"));
  }
  auto ts = ParseIssTimestamp(*update.timestamp, update.received_at);
  if (!ts.ok()) {
    return Rejection(kBadTimestamp, absl::StrCat("field timestamp (TimeStamp): \"",
                                                 *update.timestamp, "\": ", ts.status().message()));
  }
  if (auto s = CheckSourceRange("timestamp (TimeStamp)", *update.timestamp, *ts, now); !s.ok()) {
    return s;
  }
  // The receive time travels as received_ts: held to the same range (a
  // replay line's received_at is whatever the file says).
  if (auto s = CheckSourceRange("received_at", "", update.received_at, now); !s.ok()) return s;
  if (auto s = CheckCommon(update); !s.ok()) return s;
  if (auto s = CheckIngestClock(now); !s.ok()) return s;
  return *ts;
}

// `R` is const RawUpdate& (copies) or RawUpdate&& (moves).
template <typename R>
ValidatedUpdate Build(R&& update, absl::Time source_ts) {
  ValidatedUpdate out;
  out.item_id = std::forward<R>(update).item_id;
  out.source_ts = source_ts;
  out.value = std::forward<R>(update).value;
  out.status_class = std::forward<R>(update).status_class;
  out.status_indicator = std::forward<R>(update).status_indicator;
  out.status_color = std::forward<R>(update).status_color;
  out.calibrated_data = std::forward<R>(update).calibrated_data;
  out.received_at = update.received_at;
  out.source = std::forward<R>(update).source;
  return out;
}

}  // namespace

absl::StatusOr<ValidatedUpdate> Validate(const RawUpdate& update, absl::Time now) {
  absl::StatusOr<absl::Time> ts = CheckRaw(update, now);
  if (!ts.ok()) return ts.status();
  return Build(update, *ts);
}

absl::StatusOr<ValidatedUpdate> Validate(RawUpdate&& update, absl::Time now) {
  absl::StatusOr<absl::Time> ts = CheckRaw(update, now);
  if (!ts.ok()) return ts.status();  // `update` untouched
  return Build(std::move(update), *ts);
}

absl::StatusOr<ValidatedUpdate> ValidateTyped(ValidatedUpdate candidate,
                                              std::optional<absl::Time> source_ts, absl::Time now) {
  if (!IsValidItemId(candidate.item_id)) return CheckCommon(candidate);
  if (!source_ts) return Rejection(kMissingTimestamp, "field source_ts: required");
  if (auto s = CheckSourceRange("source_ts", "", *source_ts, now); !s.ok()) return s;
  candidate.source_ts = *source_ts;
  if (auto s = CheckCommon(candidate); !s.ok()) return s;
  if (candidate.received_at == absl::InfinitePast()) {
    candidate.received_at = now;
  } else if (auto s = CheckSourceRange("received_ts", "", candidate.received_at, now); !s.ok()) {
    return s;
  }
  if (auto s = CheckIngestClock(now); !s.ok()) return s;
  return candidate;
}

}  // namespace iss::ingest
