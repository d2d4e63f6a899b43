#include "gateway/unary_bridge.h"

#include <chrono>
#include <memory>

#include "gateway/grpc_bytes.h"
#include "gateway/transcoder.h"

namespace iss::gateway {

void CallUnary(grpc::GenericStub& stub, const Route& route,
               const google::protobuf::Message& request, absl::Duration deadline,
               const std::optional<std::string>& authorization, CallTracker& calls,
               std::function<void(UnaryAnswer)> done) {
  struct Call {
    grpc::ClientContext ctx;
    grpc::ByteBuffer request;
    grpc::ByteBuffer response;
  };
  auto call = std::make_shared<Call>();
  call->request = MessageToByteBuffer(request);
  call->ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(deadline));
  if (authorization) call->ctx.AddMetadata("authorization", *authorization);
  if (!calls.Track(&call->ctx, /*stream=*/false)) {
    done(UnaryAnswer{grpc::StatusCode::UNAVAILABLE, "", "the gateway is shutting down", ""});
    return;
  }
  stub.UnaryCall(&call->ctx, route.grpc_path, grpc::StubOptions(), &call->request, &call->response,
                 [call, route_ptr = &route, tracker = &calls,
                  done = std::move(done)](grpc::Status st) mutable {
                   UnaryAnswer answer;
                   answer.code = st.error_code();
                   if (st.ok()) {
                     grpc::Slice single;
                     std::string scratch;
                     auto json = ResponseBytesToJson(
                         *route_ptr, ByteBufferBytes(call->response, &single, &scratch));
                     if (json.ok()) {
                       answer.json = *std::move(json);
                     } else {  // undecodable, or the JSON mapping refused it
                       answer.code = grpc::StatusCode::INTERNAL;
                       answer.message = std::string(json.status().message());
                     }
                   } else {
                     answer.message = st.error_message();
                     answer.details = st.error_details();
                   }
                   done(std::move(answer));
                   tracker->Untrack(&call->ctx);  // last touch of the server
                 });
}

}  // namespace iss::gateway
