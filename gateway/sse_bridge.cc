#include "gateway/sse_bridge.h"

#include "gateway/grpc_bytes.h"
#include "gateway/transcoder.h"

namespace iss::gateway {

void SseCall::Begin(grpc::GenericStub* stub) {
  if (!calls_->Track(&ctx, /*stream=*/true)) {
    writer_->PostEnd(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the gateway is shutting down"));
    writer_.reset();
    return;
  }
  self_ = shared_from_this();
  stub->PrepareBidiStreamingCall(&ctx, route_->grpc_path, grpc::StubOptions(), this);
  StartWriteLast(&request, grpc::WriteOptions());
  StartRead(&response_);
  AddHold();  // released when the stream reports its end (OnReadDone(false))
  StartCall();
}

void SseCall::OnReadDone(bool ok) {
  if (!ok) {  // the stream ended (or was cancelled): OnDone follows
    RemoveHold();
    return;
  }
  grpc::Slice single;
  std::string scratch;
  std::string data;
  if (auto json = ResponseBytesToJson(*route_, ByteBufferBytes(response_, &single, &scratch));
      json.ok()) {
    data = *std::move(json);
  } else if (absl::IsDataLoss(json.status())) {
    data = StatusJson(grpc::StatusCode::INTERNAL, "undecodable upstream message");
  } else {
    data = StatusJson(grpc::StatusCode::INTERNAL, json.status().message());
  }
  writer_->PostEvent(std::move(data), shared_from_this());
}

void SseCall::OnDone(const grpc::Status& status) {
  std::shared_ptr<SseWriter> writer = std::move(writer_);
  writer->PostEnd(status);
  writer.reset();
  calls_->Untrack(&ctx);
  self_.reset();  // may delete this: nothing after
}

}  // namespace iss::gateway
