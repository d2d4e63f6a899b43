// Owns: which platform services the gateway fronts and where they live by
// default. Touching each generated file here also guarantees its descriptors
// (and google.api.http annotations) are linked into the binary's pool.
#pragma once

#include <string>
#include <vector>

#include "gateway/upstreams.h"

namespace iss::gateway {

std::vector<UpstreamSpec> PlatformUpstreams(const std::string& ingest_addr,
                                            const std::string& storage_addr,
                                            const std::string& peebot_addr);

}  // namespace iss::gateway
