// Owns: moving protobuf messages into and out of gRPC ByteBuffers for the
// gateway's generic (untyped) upstream calls, without extra copies.
#pragma once

#include <string>
#include <string_view>

#include "google/protobuf/message.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"

namespace iss::gateway {

// The bytes of `buf`: its one slice in place when it has one (`single` keeps
// it alive), else copied into `scratch`.
std::string_view ByteBufferBytes(const grpc::ByteBuffer& buf, grpc::Slice* single,
                                 std::string* scratch);

// Serialized straight into one gRPC slice (no intermediate std::string).
grpc::ByteBuffer MessageToByteBuffer(const google::protobuf::Message& msg);

}  // namespace iss::gateway
