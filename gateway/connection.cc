// The gateway's HTTP/1.1 connection: reading a request (limits, framing,
// timeouts), writing responses (CORS, keep-alive, errors in the grpc-gateway
// shape) and closing; answering is connection_answer.cc.
#include "gateway/connection_impl.h"

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
      sse_events(metrics::Counter("iss_gateway_sse_events_total",
                                  "Events sent on SSE streams, all servers of the process")),
      sse_writes(metrics::Counter(
          "iss_gateway_sse_writes_total",
          "Socket writes of SSE streams; events queued while one is in flight share the next")),
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

namespace connection_internal {

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

}  // namespace connection_internal

void ServeConnection(boost::asio::ip::tcp::socket socket, GatewayState* state) {
  boost::beast::error_code ec;
  socket.set_option(boost::asio::ip::tcp::no_delay(true), ec);
  std::make_shared<connection_internal::Connection>(std::move(socket), state)->Start();
}

}  // namespace iss::gateway
