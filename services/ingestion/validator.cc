#include "services/ingestion/validator.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/catalog.h"
#include "common/isslive_time.h"

namespace iss::ingest {
namespace {

// Status payload key that carries the reason code next to the message.
constexpr char kReasonPayload[] = "type.iss.dev/iss.ingest.RejectReason";

// Debian's Abseil has its own string_view type, distinct from std's.
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status CheckLength(const char* field, const std::optional<std::string>& value, size_t max) {
  if (value && value->size() > max) {
    return Rejection(kFieldTooLong, absl::StrCat("field ", field, ": ", value->size(),
                                                 " bytes, at most ", max, " allowed"));
  }
  return absl::OkStatus();
}

absl::Status CheckNoNul(const char* field, const std::optional<std::string>& value) {
  if (value && value->find('\0') != std::string::npos) {
    return Rejection(kNulCharacter, absl::StrCat("field ", field, ": contains a NUL character"));
  }
  return absl::OkStatus();
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
  if (auto s = CheckLength("value", u.value, kMaxValueBytes); !s.ok()) return s;
  if (auto s = CheckLength("status_class", u.status_class, kMaxStatusBytes); !s.ok()) return s;
  if (auto s = CheckLength("status_indicator", u.status_indicator, kMaxStatusBytes); !s.ok())
    return s;
  if (auto s = CheckLength("status_color", u.status_color, kMaxStatusBytes); !s.ok()) return s;
  if (auto s = CheckLength("calibrated_data", u.calibrated_data, kMaxCalibratedBytes); !s.ok()) {
    return s;
  }
  for (const auto& [field, text] : {std::pair{"value", &u.value},
                                    std::pair{"status_class", &u.status_class},
                                    std::pair{"status_indicator", &u.status_indicator},
                                    std::pair{"status_color", &u.status_color},
                                    std::pair{"calibrated_data", &u.calibrated_data}}) {
    if (auto s = CheckNoNul(field, *text); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

bool IsValidItemId(std::string_view id) {
  if (id.empty() || id.size() > kMaxItemIdBytes) return false;
  for (char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

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
absl::StatusOr<absl::Time> CheckRaw(const RawUpdate& update) {
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
  if (auto s = CheckCommon(update); !s.ok()) return s;
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

absl::StatusOr<ValidatedUpdate> Validate(const RawUpdate& update) {
  absl::StatusOr<absl::Time> ts = CheckRaw(update);
  if (!ts.ok()) return ts.status();
  return Build(update, *ts);
}

absl::StatusOr<ValidatedUpdate> Validate(RawUpdate&& update) {
  absl::StatusOr<absl::Time> ts = CheckRaw(update);
  if (!ts.ok()) return ts.status();  // `update` untouched
  return Build(std::move(update), *ts);
}

absl::StatusOr<ValidatedUpdate> ValidateTyped(ValidatedUpdate candidate,
                                              std::optional<absl::Time> source_ts) {
  if (!IsValidItemId(candidate.item_id)) return CheckCommon(candidate);
  if (!source_ts) return Rejection(kMissingTimestamp, "field source_ts: required");
  candidate.source_ts = *source_ts;
  if (auto s = CheckCommon(candidate); !s.ok()) return s;
  return candidate;
}

}  // namespace iss::ingest
