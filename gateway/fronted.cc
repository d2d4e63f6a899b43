#include "gateway/fronted.h"

#include "iss/ingest/v1/ingest.grpc.pb.h"
#include "iss/peebot/v1/peebot.grpc.pb.h"
#include "iss/storage/v1/storage.grpc.pb.h"

namespace iss::gateway {

std::vector<UpstreamSpec> PlatformUpstreams(const std::string& ingest_addr,
                                            const std::string& storage_addr,
                                            const std::string& peebot_addr) {
  // descriptor() lives in the generated .pb.cc: calling it links the file in.
  return {
      {"ingest",
       ingest_addr,
       {iss::ingest::v1::IngestTestEventRequest::descriptor()->file()->service(0)->full_name()}},
      {"storage",
       storage_addr,
       {iss::storage::v1::QueryWindowRequest::descriptor()->file()->service(0)->full_name()}},
      {"peebot",
       peebot_addr,
       {iss::peebot::v1::Detection::descriptor()->file()->service(0)->full_name()}},
  };
}

}  // namespace iss::gateway
