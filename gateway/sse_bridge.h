// Owns: one server-streaming upstream call feeding one Server-Sent Events
// response. It reads one message, hands its JSON to the writer, and reads
// the next only once the writer has written it: backpressure end to end.
// It keeps itself alive until gRPC reports the call done.
#pragma once

#include <memory>
#include <string>

#include "gateway/call_tracker.h"
#include "gateway/route_table.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/client_callback.h"

namespace iss::gateway {

class SseCall;

// The connection side of a stream. Called on gRPC threads: implementations
// move the work onto their own strand.
class SseWriter {
 public:
  virtual ~SseWriter() = default;
  // One event's JSON; once written, the writer calls call->ReadMore() (or
  // Cancel() when the client is gone).
  virtual void PostEvent(std::string json, std::shared_ptr<SseCall> call) = 0;
  // The stream ended (upstream finished, failed or was cancelled).
  virtual void PostEnd(const grpc::Status& status) = 0;
};

class SseCall final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
                      public std::enable_shared_from_this<SseCall> {
 public:
  // The call is tracked in `calls` from Begin() until it is done.
  SseCall(std::shared_ptr<SseWriter> writer, const Route* route, CallTracker* calls)
      : writer_(std::move(writer)), route_(route), calls_(calls) {}

  grpc::ClientContext ctx;  // set deadline and metadata before Begin()
  grpc::ByteBuffer request;

  void Begin(grpc::GenericStub* stub);
  void ReadMore() { StartRead(&response_); }
  void Cancel() { ctx.TryCancel(); }

  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  std::shared_ptr<SseWriter> writer_;
  const Route* route_;
  CallTracker* calls_;
  grpc::ByteBuffer response_;
  std::shared_ptr<SseCall> self_;
};

}  // namespace iss::gateway
