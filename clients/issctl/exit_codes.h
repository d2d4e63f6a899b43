// Owns: issctl's documented exit codes and the mapping from a call's status.
// The same table is printed by `issctl --help` and listed in docs/runbook.md.
#pragma once

#include "absl/status/status.h"

namespace iss::issctl {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,        // anything else: INTERNAL, RESOURCE_EXHAUSTED, UNKNOWN, ...
  kExitUsage = 2,        // bad flag or argument (nothing was sent)
  kExitAuth = 3,         // UNAUTHENTICATED, PERMISSION_DENIED
  kExitRequest = 4,      // INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE, FAILED_PRECONDITION,
                         // ALREADY_EXISTS: the server refused this request
  kExitUnavailable = 5,  // UNAVAILABLE, DEADLINE_EXCEEDED: unreachable or too slow
};

inline ExitCode ExitCodeFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return kExitAuth;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
      return kExitRequest;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    default:
      return kExitError;
  }
}

}  // namespace iss::issctl
