#include "gateway/metadata.h"

namespace iss::gateway {

bool IsForwardableMetadataValue(absl::string_view value) {
  if (value.size() > kMaxForwardedHeaderBytes) return false;
  for (const unsigned char c : value) {
    // The exact set gRPC core accepts for non-binary values
    // (grpc_header_nonbin_value_is_legal); HTAB and obs-text, legal in HTTP,
    // are not.
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

}  // namespace iss::gateway
