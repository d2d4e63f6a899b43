// Owns: conversions at the gRPC edge: absl::Status <-> grpc::Status (the codes
// are the same numbers), protobuf Timestamp/Duration <-> absl, and a helper
// for the bearer token clients send.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "grpcpp/support/status.h"

namespace iss {

// The edge mapping (same codes). INTERNAL, UNKNOWN and DATA_LOSS keep their
// detail out of the answer: it is logged with an error_id the answer quotes.
grpc::Status ToGrpc(const absl::Status& status);
absl::Status FromGrpc(const grpc::Status& status);

// A Timestamp that RFC 3339 and PostgreSQL can both hold: seconds within
// 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z and nanos in [0, 1e9). Callers'
// timestamps are checked with this before they reach arithmetic or SQL.
bool IsRfc3339Timestamp(const google::protobuf::Timestamp& ts);
absl::Time FromProto(const google::protobuf::Timestamp& ts);
google::protobuf::Timestamp ToProto(absl::Time t);
void ToProto(absl::Time t, google::protobuf::Timestamp* out);
absl::Duration FromProto(const google::protobuf::Duration& d);
google::protobuf::Duration ToProtoDuration(absl::Duration d);

// RFC 3339 UTC with six fraction digits: 2025-01-01T12:00:00.000000Z.
// Byte-for-byte what absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, UTC) gives
// (fraction truncated toward the past; years outside 1000-9999 and infinite
// times are handed to absl), without cctz on the common path: it is part of
// every event id.
std::string FormatRfc3339Micros(absl::Time t);
// The same, appended to `out` (no allocation when `out` has room).
void AppendRfc3339Micros(absl::Time t, std::string* out);

}  // namespace iss
