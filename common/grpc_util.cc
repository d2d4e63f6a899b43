#include "common/grpc_util.h"

#include <cstdint>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log.h"
#include "common/utc_days.h"

namespace iss {
namespace {

// The fast path covers four-digit years, where %Y needs no special width.
constexpr int64_t kFastMinSeconds = DaysFromCivil(1000, 1, 1) * 86400;
constexpr int64_t kFastEndSeconds = DaysFromCivil(10000, 1, 1) * 86400;

}  // namespace

// absl::StatusCode and grpc::StatusCode share their numbering (both follow
// google.rpc.Code), so the conversion is a cast, not a table.
grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  if (status.code() == absl::StatusCode::kInternal || status.code() == absl::StatusCode::kUnknown ||
      status.code() == absl::StatusCode::kDataLoss) {
    // A fault of ours: its text (a database error naming tables, a library's
    // message) is for the operator, not the caller. The caller gets an id to
    // quote; the log line with the same id has the detail.
    thread_local std::mt19937 gen{std::random_device{}()};
    const std::string id = absl::StrFormat("%08x", static_cast<uint32_t>(gen()));
    log::Error("request failed", {{"error", status.ToString()}, {"error_id", id}});
    return grpc::Status(code, absl::StrCat("internal error (error_id ", id, " in the server log)"));
  }
  return grpc::Status(code, std::string(status.message()));
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

bool IsRfc3339Timestamp(const google::protobuf::Timestamp& ts) {
  constexpr int64_t kMinSeconds = DaysFromCivil(1, 1, 1) * 86400;
  constexpr int64_t kEndSeconds = DaysFromCivil(10000, 1, 1) * 86400;
  return ts.seconds() >= kMinSeconds && ts.seconds() < kEndSeconds && ts.nanos() >= 0 &&
         ts.nanos() <= 999'999'999;
}

absl::Time FromProto(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

void ToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t s = absl::ToUnixSeconds(t);  // floors
  out->set_seconds(s);
  // ToInt64Nanoseconds returns what dividing by Nanoseconds(1) does (absl's
  // contract) without the out-of-line IDivDuration: 3 calls per event.
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(s))));
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  ToProto(t, &ts);
  return ts;
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  google::protobuf::Duration out;
  const int64_t s = absl::IDivDuration(d, absl::Seconds(1), &d);
  out.set_seconds(s);
  out.set_nanos(static_cast<int32_t>(d / absl::Nanoseconds(1)));
  return out;
}

void AppendRfc3339Micros(absl::Time t, std::string* out) {
  // Floors; the infinities saturate to the int64 limits and so take absl's path.
  const int64_t secs = absl::ToUnixSeconds(t);
  if (secs < kFastMinSeconds || secs >= kFastEndSeconds) {
    out->append(absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone()));
    return;
  }
  // [0, 1e6): the fraction, truncated toward the past like %E6S. As dividing
  // by Microseconds(1) (absl's contract), without IDivDuration.
  const int us = static_cast<int>(absl::ToInt64Microseconds(t - absl::FromUnixSeconds(secs)));
  const int64_t days = DayOfUnixSeconds(secs);
  char buf[27];  // YYYY-MM-DDTHH:MM:SS.ffffffZ
  WriteCivilDate(days, buf);
  buf[10] = 'T';
  WriteTimeOfDay(static_cast<int>(secs - days * 86400), buf + 11);
  buf[19] = '.';
  WriteTwoDigits(us / 10000, buf + 20);
  WriteTwoDigits(us / 100 % 100, buf + 22);
  WriteTwoDigits(us % 100, buf + 24);
  buf[26] = 'Z';
  out->append(buf, sizeof(buf));
}

std::string FormatRfc3339Micros(absl::Time t) {
  std::string out;
  AppendRfc3339Micros(t, &out);
  return out;
}

}  // namespace iss
