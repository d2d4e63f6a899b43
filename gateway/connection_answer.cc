// How the gateway answers a request it has read: ops endpoints, static files
// and the API routes (unary calls, server streams as Server-Sent Events).
#include "gateway/connection_impl.h"

#include <algorithm>
#include <cstdlib>

namespace iss::gateway::connection_internal {

void Connection::Handle() {
  const RouteDecision d = Decide(
      *state_->routes, Sv(req_.method_string()), req_.method() != http::verb::unknown,
      Sv(req_.target()), req_.find(http::field::access_control_request_method) != req_.end());
  route_label_ = d.route_label;
  method_label_ = d.method_label;
  if (d.rate_limited && !state_->limiter.Allow(client_)) {
    route_label_ = "rate_limited";
    Response res{http::status::too_many_requests, 11};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::retry_after, "1");
    res.body() = StatusJson(grpc::StatusCode::RESOURCE_EXHAUSTED, "rate limit exceeded: slow down");
    return Respond(std::move(res));
  }
  switch (d.kind) {
    case RouteDecision::Kind::kPreflight: {
      Response res{http::status::no_content, 11};
      if (state_->OriginAllowed(Sv(req_[http::field::origin]))) {
        res.set(http::field::access_control_allow_methods,
                "GET, POST, PUT, PATCH, DELETE, OPTIONS");
        res.set(http::field::access_control_allow_headers,
                "Authorization, Content-Type, Grpc-Timeout, X-Request-Timeout");
        res.set(http::field::access_control_max_age, "600");
      }
      return Respond(std::move(res));
    }
    case RouteDecision::Kind::kOps: {
      std::optional<OpsAnswer> ops =
          AnswerOps(std::string_view(d.path.data(), d.path.size()), *state_->health);
      if (!ops) break;  // cannot happen: the router only says kOps for an ops path
      Response res{static_cast<http::status>(ops->status), 11};
      res.set(http::field::content_type, ops->content_type);
      res.body() = std::move(ops->body);
      return Respond(std::move(res));
    }
    case RouteDecision::Kind::kRouteListing:
      return RespondJson(200, state_->routes_json);
    case RouteDecision::Kind::kOpenApi:
      return RespondJson(200, state_->openapi_json);
    case RouteDecision::Kind::kApi:
      return HandleApi(d);
    case RouteDecision::Kind::kMethodNotAllowed:
      return RespondError(
          grpc::StatusCode::UNIMPLEMENTED,
          absl::StrCat("method ", Sv(req_.method_string()), " not allowed on ", d.path), false, "",
          405);
    case RouteDecision::Kind::kStaticOrNotFound:
      if (req_.method() == http::verb::get) {
        if (auto asset = state_->assets.Find(d.path)) {
          route_label_ = "static";
          Response res{http::status::ok, 11};
          res.set(http::field::content_type, asset->content_type);
          res.set(http::field::cache_control, "no-cache");
          res.set("X-Content-Type-Options", "nosniff");
          res.body() = std::move(asset->body);
          return Respond(std::move(res));
        }
      }
      break;
  }
  RespondError(grpc::StatusCode::NOT_FOUND,
               absl::StrCat("no route for ", Sv(req_.method_string()), " ", d.path));
}

absl::StatusOr<std::optional<absl::Duration>> Connection::RequestDeadline() const {
  std::optional<absl::Duration> d;
  if (auto it = req_.find("Grpc-Timeout"); it != req_.end()) {
    auto parsed = ParseGrpcTimeout(Sv(it->value()));
    if (!parsed.ok()) return parsed.status();
    d = *parsed;
  } else if (auto it2 = req_.find("X-Request-Timeout"); it2 != req_.end()) {
    const absl::string_view v = Sv(it2->value());
    double seconds;
    if (absl::SimpleAtod(v, &seconds) && seconds >= 0) {
      d = absl::Seconds(seconds);
    } else if (auto parsed = ParseDuration(std::string_view(v.data(), v.size())); parsed.ok()) {
      d = *parsed;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("bad X-Request-Timeout \"", v, "\""));
    }
  }
  if (d && *d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("request timeout must be positive");
  }
  if (d) d = std::min(*d, state_->options.max_deadline);
  return d;
}

void Connection::HandleApi(const RouteDecision& decision) {
  const Route& route = *decision.match.route;
  // gRPC core aborts the whole process on a metadata value outside printable
  // ASCII (logging the value, a credential, on the way): refuse it here, and
  // never echo it back.
  std::optional<std::string> authorization;
  if (auto auth = req_.find(http::field::authorization); auth != req_.end()) {
    if (!IsForwardableMetadataValue(Sv(auth->value()))) {
      return RespondError(grpc::StatusCode::UNAUTHENTICATED,
                          absl::StrCat("Authorization header must be printable ASCII of at most ",
                                       kMaxForwardedHeaderBytes, " bytes"));
    }
    authorization = std::string(auth->value());
  }
  auto request = BuildRequest(route, decision.match.bindings, decision.query, req_.body());
  if (!request.ok()) {
    return RespondError(grpc::StatusCode::INVALID_ARGUMENT,
                        std::string(request.status().message()));
  }
  auto deadline = RequestDeadline();
  if (!deadline.ok()) {
    return RespondError(grpc::StatusCode::INVALID_ARGUMENT,
                        std::string(deadline.status().message()));
  }
  grpc::GenericStub* stub = state_->upstreams->StubFor(route.method->service()->full_name());
  if (stub == nullptr) {
    return RespondError(grpc::StatusCode::UNIMPLEMENTED, "no upstream serves this route");
  }

  if (route.server_streaming) {
    switch (state_->slots.Acquire(client_)) {
      case StreamSlots::Grant::kClientFull:
        return RespondError(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            absl::StrCat("too many concurrent streams from this client (limit ",
                                         state_->slots.max_per_client(), ")"));
      case StreamSlots::Grant::kServerFull:
        return RespondError(grpc::StatusCode::UNAVAILABLE,
                            absl::StrCat("too many concurrent streams (limit ",
                                         state_->slots.max_total(), "); retry later"));
      case StreamSlots::Grant::kGranted:
        holds_stream_slot_ = true;  // returned when the connection closes
        break;
    }
    return StartSse(route, *std::move(request), *deadline, std::move(authorization));
  }
  CallUnary(
      *stub, route, **request, deadline->value_or(state_->options.default_deadline), authorization,
      state_->calls,
      [self = shared_from_this(), success = route.success_status](UnaryAnswer answer) mutable {
        Connection* raw = self.get();
        net::post(raw->stream_.get_executor(),
                  [self = std::move(self), success, answer = std::move(answer)]() mutable {
                    if (answer.code != grpc::StatusCode::OK) {
                      return self->RespondError(answer.code, std::move(answer.message), false,
                                                answer.details);
                    }
                    // 200, or the RPC's (iss.options.v1.http_success_status).
                    self->RespondJson(success, std::move(answer.json));
                  });
      });
}

void Connection::StartSse(const Route& route, std::unique_ptr<google::protobuf::Message> request,
                          std::optional<absl::Duration> deadline,
                          std::optional<std::string> authorization) {
  auto call = std::make_shared<SseCall>(shared_from_this(), &route, &state_->calls);
  call->request = MessageToByteBuffer(*request);
  if (deadline) {
    call->ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(*deadline));
  }
  if (authorization) call->ctx.AddMetadata("authorization", *authorization);
  sse_call_ = call;
  // Close-delimited stream: no length, no chunking, nothing pipelined after it.
  std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "Connection: close\r\nX-Accel-Buffering: no\r\nServer: iss-gateway\r\n";
  head += CorsHeaderLines();
  head += "\r\n";
  state_->Observe(route_label_, method_label_, 200, started_);
  Enqueue(std::move(head), nullptr);
  heartbeat_.emplace(stream_.get_executor());
  Heartbeat();
  WatchClient();
  call->Begin(state_->upstreams->StubFor(route.method->service()->full_name()));
}

// The next upstream event is read while earlier ones are still being written,
// as long as less than this much waits for the client; past it, the read waits
// for the socket to drain, so a slow client still pushes back on the upstream
// stream and a stream's memory stays bounded. Reading one event per finished
// write (a round trip through gRPC and a syscall per event) held a 10k/s tail
// to the gateway's pace.
constexpr size_t kSseReadAheadBytes = 64 * 1024;
// At most this many queued events go out in one write (one gather syscall).
constexpr size_t kMaxWriteBatch = 256;

void Connection::SseEvent(std::string data, std::shared_ptr<SseCall> call) {
  if (!closed_) {
    Enqueue(absl::StrCat("data: ", data, "\n\n"), nullptr);
    state_->sse_events.Increment();
  }
  // One read in flight at most, by contract: the call reads again only after
  // this event, so nothing can be parked already.
  if (parked_read_ != nullptr) std::abort();
  parked_read_ = std::move(call);
  ReleaseParkedRead();  // on a closed connection: cancels, and the read reports the end
}

void Connection::ReleaseParkedRead() {
  if (parked_read_ == nullptr || (!closed_ && outq_bytes_ >= kSseReadAheadBytes)) return;
  std::shared_ptr<SseCall> call = std::move(parked_read_);
  if (closed_) call->Cancel();
  call->ReadMore();
}

void Connection::SseEnd(const grpc::Status& status) {
  sse_ended_ = true;
  if (heartbeat_) heartbeat_->cancel();
  const std::string body =
      StatusJson(status.error_code(), status.error_message(), status.error_details());
  Enqueue(absl::StrCat("event: end\ndata: ", body, "\n\n"), [self = shared_from_this()] {
    self->EndRequest();
    self->LingerClose();
  });
}

void Connection::Heartbeat() {
  heartbeat_->expires_after(Chrono(state_->options.sse_heartbeat));
  heartbeat_->async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || self->sse_ended_ || self->closed_) return;
    // A comment line: ignored by EventSource, keeps proxies and NATs open.
    self->Enqueue(": keep-alive\n\n", nullptr);
    self->Heartbeat();
  });
}

// While streaming, the only thing a client sends is its goodbye: a read that
// ends means it went away, and the upstream call is cancelled.
void Connection::WatchClient() {
  stream_.socket().async_read_some(net::buffer(watch_buf_),
                                   [self = shared_from_this()](beast::error_code ec, size_t) {
                                     if (!ec && !self->closed_) return self->WatchClient();
                                     if (auto call = self->sse_call_.lock()) call->Cancel();
                                   });
}

void Connection::Enqueue(std::string bytes, std::function<void()> done) {
  outq_bytes_ += bytes.size();
  outq_.emplace_back(std::move(bytes), std::move(done));
  if (!writing_) WriteNext();
}

void Connection::WriteNext() {
  if (outq_.empty()) {
    writing_ = false;
    return;
  }
  writing_ = true;
  if (closed_) {  // nothing can be written: still run the completions in order
    return OnBatchWritten(boost::asio::error::operation_aborted, outq_.size());
  }
  // Everything queued so far goes out in one write. The buffers point into
  // outq_'s strings, which stay put until OnBatchWritten pops them.
  const size_t entries = std::min(outq_.size(), kMaxWriteBatch);
  write_batch_.clear();
  for (size_t i = 0; i < entries; ++i) write_batch_.push_back(net::buffer(outq_[i].first));
  // A client that stops reading would otherwise hold this stream, its slot and
  // its upstream call forever: a write that does not finish in time fails
  // (beast closes the socket), which ends the stream and cancels upstream.
  stream_.expires_after(Chrono(state_->options.stream_write_timeout));
  state_->sse_writes.Increment();
  net::async_write(stream_, write_batch_,
                   [self = shared_from_this(), entries](beast::error_code ec, size_t) {
                     self->OnBatchWritten(ec, entries);
                   });
}

void Connection::OnBatchWritten(beast::error_code ec, size_t entries) {
  if (ec && !closed_) {
    CloseNow();
    if (auto call = sse_call_.lock()) call->Cancel();
  }
  for (size_t i = 0; i < entries; ++i) {
    outq_bytes_ -= outq_.front().first.size();
    auto done = std::move(outq_.front().second);
    outq_.pop_front();
    if (done) done();
  }
  ReleaseParkedRead();
  WriteNext();
}

}  // namespace iss::gateway::connection_internal
