// Owns: which HTTP header values may be forwarded to upstreams as gRPC
// metadata. gRPC core treats an illegal metadata value as API misuse and
// aborts the process (after logging the raw value, often a credential), so
// every forwarded value is checked here first.
#pragma once

#include <cstddef>

#include "absl/strings/string_view.h"

namespace iss::gateway {

// Far above any bearer token we issue; keeps a 16 KiB header block from
// becoming 16 KiB of metadata on every upstream call.
inline constexpr size_t kMaxForwardedHeaderBytes = 4096;

// True when `value` may be sent as a (non "-bin") gRPC metadata value:
// printable ASCII (0x20-0x7E) only, at most kMaxForwardedHeaderBytes.
bool IsForwardableMetadataValue(absl::string_view value);

}  // namespace iss::gateway
