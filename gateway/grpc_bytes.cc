#include "gateway/grpc_bytes.h"

#include <vector>

namespace iss::gateway {

std::string_view ByteBufferBytes(const grpc::ByteBuffer& buf, grpc::Slice* single,
                                 std::string* scratch) {
  if (buf.TrySingleSlice(single).ok()) {
    return std::string_view(reinterpret_cast<const char*>(single->begin()), single->size());
  }
  std::vector<grpc::Slice> slices;
  scratch->clear();
  if (!buf.Dump(&slices).ok()) return *scratch;
  scratch->reserve(buf.Length());
  for (const grpc::Slice& s : slices) {
    scratch->append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return *scratch;
}

grpc::ByteBuffer MessageToByteBuffer(const google::protobuf::Message& msg) {
  grpc::Slice slice(msg.ByteSizeLong());
  msg.SerializeWithCachedSizesToArray(const_cast<uint8_t*>(slice.begin()));
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace iss::gateway
