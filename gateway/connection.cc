#include "gateway/connection.h"

#include <deque>
#include <functional>
#include <memory>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "boost/asio.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "common/config.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/ops_server.h"
#include "gateway/grpc_bytes.h"
#include "gateway/http_framing.h"
#include "gateway/metadata.h"
#include "gateway/openapi.h"
#include "gateway/router.h"
#include "gateway/sse_bridge.h"
#include "gateway/transcoder.h"
#include "gateway/unary_bridge.h"

namespace iss::gateway {

GatewayState::GatewayState(const ServerOptions& o, const RouteTable* r, Upstreams* u, Health* h)
    : options(o),
      routes(r),
      upstreams(u),
      health(h),
      assets(o.web_root),
      limiter(o.rate_limit_rps, o.rate_limit_burst > 0 ? o.rate_limit_burst : o.rate_limit_rps),
      requests(metrics::CounterFamily(
          "http_requests_total",
          "HTTP requests answered by the gateway, by route template, method and status code.")),
      durations(metrics::HistogramFamily(
          "http_request_duration_seconds",
          "Time from a request's headers to its response (SSE: to the stream's headers).")),
      open_streams(metrics::Gauge(
          "iss_gateway_sse_streams",
          "SSE streams open now, all servers of the process (capped by ISS_GATEWAY_MAX_STREAMS; "
          "refusals show as http_requests_total code 429/503)")),
      slots(o.max_streams, o.max_streams_per_client, &open_streams),
      routes_json(RoutesJson(*r)),
      openapi_json(OpenApiJson(*r)) {}

bool GatewayState::OriginAllowed(absl::string_view origin) const {
  for (const std::string& o : options.cors_origins) {
    if (o == "*" || o == origin) return true;
  }
  return false;
}

void GatewayState::Observe(const std::string& route, const std::string& method, int code,
                           absl::Time start) {
  requests.Add({{"route", route}, {"method", method}, {"code", absl::StrCat(code)}}).Increment();
  durations.Add({{"route", route}, {"method", method}}, metrics::LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(absl::Now() - start));
}

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Response = http::response<http::string_body>;

std::chrono::steady_clock::duration Chrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(d);
}

absl::string_view Sv(boost::beast::string_view s) { return absl::string_view(s.data(), s.size()); }

class Connection : public std::enable_shared_from_this<Connection>, public SseWriter {
 public:
  Connection(tcp::socket socket, GatewayState* state) : stream_(std::move(socket)), state_(state) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    client_ = ec ? "unknown" : ep.address().to_string();
  }

  // The last owner may be ioc's destruction at shutdown: the slot is
  // returned either way.
  ~Connection() override { ReleaseStreamSlot(); }

  void Start() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Connection::ReadNext, shared_from_this()));
  }

  // --- SseWriter: from gRPC threads onto this connection's strand ---
  void PostEvent(std::string json, std::shared_ptr<SseCall> call) override {
    net::post(stream_.get_executor(), [self = shared_from_this(), json = std::move(json),
                                       call = std::move(call)]() mutable {
      self->SseEvent(std::move(json), std::move(call));
    });
  }
  void PostEnd(const grpc::Status& status) override {
    net::post(stream_.get_executor(),
              [self = shared_from_this(), status] { self->SseEnd(status); });
  }

 private:
  // --- reading a request ---
  void ReadNext();
  void OnHeader(beast::error_code ec);
  void ReadBody();
  void OnBody(beast::error_code ec);
  void OnReadError(beast::error_code ec);
  // --- answering it ---
  void Handle();
  void HandleApi(const RouteDecision& decision);
  absl::StatusOr<std::optional<absl::Duration>> RequestDeadline() const;
  void StartSse(const Route& route, std::unique_ptr<google::protobuf::Message> request,
                std::optional<absl::Duration> deadline, std::optional<std::string> authorization);
  void Respond(Response res, bool force_close = false);
  void RespondJson(int status, std::string body, bool force_close = false);
  // `http_status` 0 = from the gRPC code (grpc-gateway's table).
  void RespondError(grpc::StatusCode grpc_code, std::string message, bool force_close = false,
                    absl::string_view details_bin = "", int http_status = 0);
  void AddCors(Response& res) const;
  std::string CorsHeaderLines() const;
  void OnWritten(beast::error_code ec, bool keep_alive);
  void BeginRequest();
  void EndRequest();
  // --- SSE, on this connection's strand ---
  void SseEvent(std::string data, std::shared_ptr<SseCall> call);
  void SseEnd(const grpc::Status& status);
  void Enqueue(std::string bytes, std::function<void()> done);
  void WriteNext();
  void WatchClient();
  void Heartbeat();
  // --- closing ---
  void LingerClose();
  void CloseNow();
  void ReleaseStreamSlot();

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> req_;
  GatewayState* state_;
  std::string client_;
  absl::Time started_;
  std::string route_label_ = "unmatched";
  std::string method_label_ = "OTHER";
  bool in_request_ = false;
  TrailerGuard trailers_;

  // SSE state.
  bool holds_stream_slot_ = false;
  std::weak_ptr<SseCall> sse_call_;
  std::deque<std::pair<std::string, std::function<void()>>> outq_;
  bool writing_ = false;
  bool sse_ended_ = false;
  bool closed_ = false;
  std::optional<net::steady_timer> heartbeat_;
  std::shared_ptr<std::function<void()>> linger_;
  std::array<char, 512> watch_buf_;
};

void Connection::ReadNext() {
  if (state_->draining || closed_) return CloseNow();
  parser_.emplace();
  parser_->header_limit(static_cast<uint32_t>(state_->options.max_header_bytes));
  parser_->body_limit(state_->options.max_body_bytes);
  stream_.expires_after(Chrono(state_->options.idle_timeout));
  http::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
}

void Connection::BeginRequest() {
  started_ = absl::Now();
  route_label_ = "unmatched";
  method_label_ = "OTHER";
  if (!in_request_) {
    in_request_ = true;
    state_->active.fetch_add(1);
  }
}

void Connection::EndRequest() {
  if (in_request_) {
    in_request_ = false;
    state_->active.fetch_sub(1);
  }
}

void Connection::OnReadError(beast::error_code ec) {
  if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::eof ||
      ec == net::error::connection_reset || ec == net::error::operation_aborted ||
      ec == http::error::partial_message) {
    EndRequest();
    return CloseNow();
  }
  BeginRequest();
  if (ec == http::error::body_limit) {
    return RespondError(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("request body larger than ", state_->options.max_body_bytes, " bytes"), true,
        "", 413);
  }
  if (ec == http::error::header_limit) {
    return RespondError(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("request headers larger than ", state_->options.max_header_bytes, " bytes"),
        true, "", 431);
  }
  RespondError(grpc::StatusCode::INVALID_ARGUMENT,
               absl::StrCat("malformed HTTP request: ", ec.message()), true);
}

void Connection::OnHeader(beast::error_code ec) {
  if (ec) return OnReadError(ec);
  BeginRequest();
  if (parser_->get().target().size() > state_->options.max_url_bytes) {
    return RespondError(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("request target longer than ", state_->options.max_url_bytes, " bytes"), true,
        "", 414);
  }
  // A head whose framing we cannot trust ends the connection: whatever
  // follows it could be read as a body or as the next request.
  const HeadVerdict verdict = CheckRequestHead(parser_->get(), !parser_->is_done());
  if (verdict.refuse_status != 0) {
    const grpc::StatusCode code = verdict.refuse_status == 501 ? grpc::StatusCode::UNIMPLEMENTED
                                  : verdict.refuse_status == 417
                                      ? grpc::StatusCode::FAILED_PRECONDITION
                                      : grpc::StatusCode::INVALID_ARGUMENT;
    return RespondError(code, verdict.message, true, "", verdict.refuse_status);
  }
  trailers_.Keep(parser_->get(), parser_->chunked());
  if (parser_->is_done()) return OnBody({});
  if (!verdict.expect_continue) return ReadBody();
  // The client holds its body back until told to go on.
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  stream_.expires_after(Chrono(state_->options.read_timeout));
  net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                   [self = shared_from_this()](beast::error_code ec, size_t) {
                     if (ec) return self->CloseNow();
                     self->ReadBody();
                   });
}

void Connection::ReadBody() {
  stream_.expires_after(Chrono(state_->options.read_timeout));
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
}

void Connection::OnBody(beast::error_code ec) {
  if (ec) return OnReadError(ec);
  req_ = parser_->release();
  trailers_.Restore(req_);
  stream_.expires_never();
  Handle();
}

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

void Connection::SseEvent(std::string data, std::shared_ptr<SseCall> call) {
  Enqueue(absl::StrCat("data: ", data, "\n\n"), [call, self = shared_from_this()] {
    if (self->closed_) call->Cancel();
    call->ReadMore();
  });
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
    auto done = std::move(outq_.front().second);
    outq_.pop_front();
    if (done) done();
    return WriteNext();
  }
  // A client that stops reading would otherwise hold this stream, its slot and
  // its upstream call forever: a write that does not finish in time fails
  // (beast closes the socket), which ends the stream and cancels upstream.
  stream_.expires_after(Chrono(state_->options.stream_write_timeout));
  net::async_write(stream_, net::buffer(outq_.front().first),
                   [self = shared_from_this()](beast::error_code ec, size_t) {
                     auto done = std::move(self->outq_.front().second);
                     self->outq_.pop_front();
                     if (ec) {
                       self->CloseNow();
                       if (auto call = self->sse_call_.lock()) call->Cancel();
                     }
                     if (done) done();
                     self->WriteNext();
                   });
}

void Connection::AddCors(Response& res) const {
  auto origin = req_.find(http::field::origin);
  if (origin == req_.end() || !state_->OriginAllowed(Sv(origin->value()))) return;
  res.set(http::field::access_control_allow_origin, origin->value());
  res.set(http::field::vary, "Origin");
  res.set(http::field::access_control_expose_headers, "WWW-Authenticate, Retry-After");
}

std::string Connection::CorsHeaderLines() const {
  auto origin = req_.find(http::field::origin);
  if (origin == req_.end() || !state_->OriginAllowed(Sv(origin->value()))) return "";
  return absl::StrCat("Access-Control-Allow-Origin: ", Sv(origin->value()), "\r\nVary: Origin\r\n");
}

void Connection::RespondJson(int status, std::string body, bool force_close) {
  Response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  Respond(std::move(res), force_close);
}

void Connection::RespondError(grpc::StatusCode grpc_code, std::string message, bool force_close,
                              absl::string_view details_bin, int http_status) {
  const int status = http_status != 0 ? http_status : HttpStatusFromGrpc(grpc_code);
  Response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  if (grpc_code == grpc::StatusCode::UNAUTHENTICATED) {
    res.set(http::field::www_authenticate, "Bearer realm=\"iss\"");
  }
  res.body() = StatusJson(grpc_code, message, details_bin);
  Respond(std::move(res), force_close);
}

void Connection::Respond(Response res, bool force_close) {
  const bool keep = !force_close && req_.keep_alive() && !state_->draining;
  res.version(11);
  res.keep_alive(keep);
  res.set(http::field::server, "iss-gateway");
  AddCors(res);
  res.prepare_payload();
  if (res.result_int() >= 500 && route_label_ != "/readyz") {
    static log::RateLimiter limiter(absl::Seconds(10));
    int64_t suppressed = 0;
    if (limiter.Allow(route_label_, &suppressed)) {
      log::Warn("request failed", {{"route", route_label_},
                                   {"status", res.result_int()},
                                   {"body", res.body()},
                                   {"suppressed", suppressed}});
    }
  }
  state_->Observe(route_label_, method_label_, res.result_int(), started_);
  auto sp = std::make_shared<Response>(std::move(res));
  stream_.expires_after(Chrono(state_->options.read_timeout));
  http::async_write(stream_, *sp,
                    [self = shared_from_this(), sp, keep](beast::error_code ec, size_t) {
                      self->OnWritten(ec, keep);
                    });
}

void Connection::OnWritten(beast::error_code ec, bool keep_alive) {
  EndRequest();
  if (ec) return CloseNow();
  if (!keep_alive) return LingerClose();
  req_ = {};
  ReadNext();
}

// Half-closes, then reads and drops what the client still sends for a moment,
// so an unread request body does not turn our final answer into a reset.
void Connection::LingerClose() {
  if (closed_) return;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.expires_after(std::chrono::seconds(2));
  auto drain = std::make_shared<std::function<void()>>();
  *drain = [self = shared_from_this(), drain_weak = std::weak_ptr<std::function<void()>>(drain)] {
    self->stream_.async_read_some(net::buffer(self->watch_buf_),
                                  [self, drain_weak](beast::error_code ec, size_t) {
                                    auto next = drain_weak.lock();
                                    if (ec || !next) return self->CloseNow();
                                    (*next)();
                                  });
  };
  linger_ = drain;
  (*drain)();
}

void Connection::ReleaseStreamSlot() {
  if (!holds_stream_slot_) return;
  holds_stream_slot_ = false;
  state_->slots.Release(client_);
}

void Connection::CloseNow() {
  // The socket is gone and the upstream call ended or is being cancelled:
  // the slot is free for the next stream.
  ReleaseStreamSlot();
  if (closed_) return;
  closed_ = true;
  if (heartbeat_) heartbeat_->cancel();
  linger_.reset();
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.socket().close(ec);
}

}  // namespace

void ServeConnection(tcp::socket socket, GatewayState* state) {
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  std::make_shared<Connection>(std::move(socket), state)->Start();
}

}  // namespace iss::gateway
