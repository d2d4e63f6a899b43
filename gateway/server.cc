#include <utility>  // before any Asio header (Boost 1.74 + g++ 12)

#include "gateway/server.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "boost/asio.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "common/config.h"
#include "common/log.h"
#include "common/metrics.h"
#include "gateway/http_framing.h"
#include "gateway/metadata.h"
#include "gateway/openapi.h"
#include "gateway/rate_limiter.h"
#include "gateway/transcoder.h"
#include "gateway/web_assets.h"

namespace iss::gateway {
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

// The bytes of `buf`: its one slice in place when it has one (`single` keeps
// it alive), else copied into `scratch`.
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

// Serialized straight into one gRPC slice (no intermediate std::string).
grpc::ByteBuffer MessageToByteBuffer(const google::protobuf::Message& msg) {
  grpc::Slice slice(msg.ByteSizeLong());
  msg.SerializeWithCachedSizesToArray(const_cast<uint8_t*>(slice.begin()));
  return grpc::ByteBuffer(&slice, 1);
}

class Session;
class SseCall;

}  // namespace

absl::StatusOr<absl::Duration> ParseGrpcTimeout(absl::string_view text) {
  if (text.size() < 2 || text.size() > 9) {
    return absl::InvalidArgumentError(absl::StrCat("bad Grpc-Timeout \"", text, "\""));
  }
  int64_t n;
  if (!absl::SimpleAtoi(text.substr(0, text.size() - 1), &n) || n < 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad Grpc-Timeout \"", text, "\""));
  }
  switch (text.back()) {
    case 'H': return absl::Hours(n);
    case 'M': return absl::Minutes(n);
    case 'S': return absl::Seconds(n);
    case 'm': return absl::Milliseconds(n);
    case 'u': return absl::Microseconds(n);
    case 'n': return absl::Nanoseconds(n);
  }
  return absl::InvalidArgumentError(absl::StrCat("bad Grpc-Timeout unit in \"", text, "\""));
}

struct Server::Impl {
  Impl(const ServerOptions& o, const RouteTable* r, Upstreams* u, Health* h)
      : options(o),
        routes(r),
        upstreams(u),
        health(h),
        assets(o.web_root),
        limiter(o.rate_limit_rps, o.rate_limit_burst > 0 ? o.rate_limit_burst : o.rate_limit_rps),
        acceptor(net::make_strand(ioc)),
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
        routes_json(RoutesJson(*r)),
        openapi_json(OpenApiJson(*r)) {}

  void Accept();
  bool draining() const { return draining_.load(); }

  void Track(grpc::ClientContext* ctx, bool stream) {
    std::lock_guard<std::mutex> lock(calls_mu);
    calls.insert(ctx);
    if (stream) streams.insert(ctx);
  }
  // Must be the caller's last touch of the server: Shutdown may free it next.
  void Untrack(grpc::ClientContext* ctx) {
    std::lock_guard<std::mutex> lock(calls_mu);
    calls.erase(ctx);
    streams.erase(ctx);
    calls_cv.notify_all();
  }
  void CancelAll(bool streams_only = false) {
    std::lock_guard<std::mutex> lock(calls_mu);
    for (grpc::ClientContext* ctx : streams_only ? streams : calls) ctx->TryCancel();
  }
  size_t InflightCalls() {
    std::lock_guard<std::mutex> lock(calls_mu);
    return calls.size();
  }

  enum class StreamSlot { kGranted, kClientFull, kServerFull };
  StreamSlot AcquireStreamSlot(const std::string& client) {
    std::lock_guard<std::mutex> lock(slots_mu);
    if (auto it = streams_by_client.find(client);
        it != streams_by_client.end() && it->second >= options.max_streams_per_client) {
      return StreamSlot::kClientFull;
    }
    if (streams_total >= options.max_streams) return StreamSlot::kServerFull;
    ++streams_by_client[client];
    ++streams_total;
    open_streams.Increment();
    return StreamSlot::kGranted;
  }
  void ReleaseStreamSlot(const std::string& client) {
    std::lock_guard<std::mutex> lock(slots_mu);
    --streams_total;
    open_streams.Decrement();
    if (auto it = streams_by_client.find(client); it != streams_by_client.end() && --it->second <= 0) {
      streams_by_client.erase(it);
    }
  }

  void Observe(const std::string& route, const std::string& method, int code, absl::Time start) {
    requests.Add({{"route", route}, {"method", method}, {"code", absl::StrCat(code)}}).Increment();
    durations.Add({{"route", route}, {"method", method}}, metrics::LatencyBuckets())
        .Observe(absl::ToDoubleSeconds(absl::Now() - start));
  }

  bool OriginAllowed(absl::string_view origin) const {
    for (const std::string& o : options.cors_origins) {
      if (o == "*" || o == origin) return true;
    }
    return false;
  }

  const ServerOptions options;
  const RouteTable* routes;
  Upstreams* upstreams;
  Health* health;
  WebAssets assets;
  RateLimiter limiter;
  // SSE stream slots. Declared before `ioc`: a session still holding one is
  // released when `ioc` is destroyed, and these must outlive that.
  std::mutex slots_mu;
  int streams_total = 0;
  absl::flat_hash_map<std::string, int> streams_by_client;
  net::io_context ioc;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& durations;
  prometheus::Gauge& open_streams;
  const std::string routes_json;
  const std::string openapi_json;
  std::atomic<bool> draining_{false};
  std::atomic<int> active{0};
  std::atomic<bool> stopped{false};
  int port = 0;

  std::mutex calls_mu;
  std::condition_variable calls_cv;
  absl::flat_hash_set<grpc::ClientContext*> calls;    // every upstream call in flight
  absl::flat_hash_set<grpc::ClientContext*> streams;  // the server-streaming ones
};

namespace {

using Impl = Server::Impl;

// One HTTP connection. Requests are read, answered and written strictly one
// after another, which is what makes pipelined requests safe.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Impl* impl) : stream_(std::move(socket)), impl_(impl) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    client_ = ec ? "unknown" : ep.address().to_string();
  }

  // The last owner may be ioc's destruction at shutdown: the slot is
  // returned either way.
  ~Session() { ReleaseStreamSlot(); }

  auto executor() { return stream_.get_executor(); }

  void Start() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::ReadNext, shared_from_this()));
  }

  // --- SSE, called on this session's strand ---
  void SseEvent(std::string data, std::shared_ptr<SseCall> call);
  void SseEnd(const grpc::Status& status);

 private:
  void ReadNext();
  void OnHeader(beast::error_code ec);
  void ReadBody();
  void OnBody(beast::error_code ec);
  void OnReadError(beast::error_code ec);
  void Handle();
  void HandleApi(const RouteTable::MatchResult& match, absl::string_view query);
  void StartSse(const Route& route, std::unique_ptr<google::protobuf::Message> request,
                std::optional<absl::Duration> deadline,
                std::optional<std::string> authorization);
  absl::StatusOr<std::optional<absl::Duration>> RequestDeadline() const;
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
  void LingerClose();
  void Enqueue(std::string bytes, std::function<void()> done);
  void WriteNext();
  void WatchClient();
  void Heartbeat();
  void CloseNow();
  void ReleaseStreamSlot();

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> req_;
  Impl* impl_;
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

// A server-streaming upstream call feeding one SSE response. Reads one
// message, hands it to the session, reads the next once it is written
// (backpressure end to end). Keeps itself alive until OnDone.
class SseCall : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
                public std::enable_shared_from_this<SseCall> {
 public:
  SseCall(std::shared_ptr<Session> session, const Route* route, Impl* impl)
      : session_(std::move(session)), route_(route), impl_(impl) {}

  grpc::ClientContext ctx;
  grpc::ByteBuffer request;

  void Begin(grpc::GenericStub* stub) {
    self_ = shared_from_this();
    impl_->Track(&ctx, /*stream=*/true);
    stub->PrepareBidiStreamingCall(&ctx, route_->grpc_path, grpc::StubOptions(), this);
    StartWriteLast(&request, grpc::WriteOptions());
    StartRead(&response_);
    AddHold();  // released when the stream reports its end (OnReadDone(false))
    StartCall();
  }
  void ReadMore() { StartRead(&response_); }
  void Cancel() { ctx.TryCancel(); }

  void OnReadDone(bool ok) override {
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
    net::post(session_->executor(), [s = session_, d = std::move(data), me = shared_from_this()]() mutable {
      s->SseEvent(std::move(d), std::move(me));
    });
  }

  void OnDone(const grpc::Status& status) override {
    std::shared_ptr<Session> s = std::move(session_);
    net::post(s->executor(), [s, status] { s->SseEnd(status); });
    s.reset();
    impl_->Untrack(&ctx);
    self_.reset();  // may delete this: nothing after
  }

 private:
  std::shared_ptr<Session> session_;
  const Route* route_;
  Impl* impl_;
  grpc::ByteBuffer response_;
  std::shared_ptr<SseCall> self_;
};

void Session::ReadNext() {
  if (impl_->draining() || closed_) return CloseNow();
  parser_.emplace();
  parser_->header_limit(static_cast<uint32_t>(impl_->options.max_header_bytes));
  parser_->body_limit(impl_->options.max_body_bytes);
  stream_.expires_after(Chrono(impl_->options.idle_timeout));
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, size_t) {
                            self->OnHeader(ec);
                          });
}

void Session::BeginRequest() {
  started_ = absl::Now();
  route_label_ = "unmatched";
  method_label_ = "OTHER";
  if (!in_request_) {
    in_request_ = true;
    impl_->active.fetch_add(1);
  }
}

void Session::EndRequest() {
  if (in_request_) {
    in_request_ = false;
    impl_->active.fetch_sub(1);
  }
}

void Session::OnReadError(beast::error_code ec) {
  if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
      ec == net::error::eof || ec == net::error::connection_reset ||
      ec == net::error::operation_aborted || ec == http::error::partial_message) {
    EndRequest();
    return CloseNow();
  }
  BeginRequest();
  if (ec == http::error::body_limit) {
    return RespondError(grpc::StatusCode::INVALID_ARGUMENT, absl::StrCat("request body larger than ",
                                        impl_->options.max_body_bytes, " bytes"),
                        true, "", 413);
  }
  if (ec == http::error::header_limit) {
    Response res{http::status::request_header_fields_too_large, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = StatusJson(grpc::StatusCode::INVALID_ARGUMENT, absl::StrCat("request headers larger than ",
                                            impl_->options.max_header_bytes, " bytes"));
    return Respond(std::move(res), true);
  }
  RespondError(grpc::StatusCode::INVALID_ARGUMENT, absl::StrCat("malformed HTTP request: ", ec.message()), true);
}

void Session::OnHeader(beast::error_code ec) {
  if (ec) return OnReadError(ec);
  BeginRequest();
  if (parser_->get().target().size() > impl_->options.max_url_bytes) {
    Response res{http::status::uri_too_long, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = StatusJson(grpc::StatusCode::INVALID_ARGUMENT, absl::StrCat("request target longer than ",
                                            impl_->options.max_url_bytes, " bytes"));
    return Respond(std::move(res), true);
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
  stream_.expires_after(Chrono(impl_->options.read_timeout));
  net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                   [self = shared_from_this()](beast::error_code ec, size_t) {
                     if (ec) return self->CloseNow();
                     self->ReadBody();
                   });
}

void Session::ReadBody() {
  stream_.expires_after(Chrono(impl_->options.read_timeout));
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
}

void Session::OnBody(beast::error_code ec) {
  if (ec) return OnReadError(ec);
  req_ = parser_->release();
  trailers_.Restore(req_);
  stream_.expires_never();
  Handle();
}

void Session::Handle() {
  const absl::string_view target(req_.target().data(), req_.target().size());
  const size_t q = target.find('?');
  const absl::string_view path = target.substr(0, q);
  const absl::string_view query = q == absl::string_view::npos ? "" : target.substr(q + 1);
  if (req_.method() != http::verb::unknown) {
    method_label_ = std::string(req_.method_string());
  }

  // CORS preflight: answered here, never forwarded.
  if (req_.method() == http::verb::options &&
      req_.find(http::field::access_control_request_method) != req_.end()) {
    route_label_ = "preflight";
    Response res{http::status::no_content, 11};
    if (impl_->OriginAllowed(Sv(req_[http::field::origin]))) {
      res.set(http::field::access_control_allow_methods, "GET, POST, PUT, PATCH, DELETE, OPTIONS");
      res.set(http::field::access_control_allow_headers,
              "Authorization, Content-Type, Grpc-Timeout, X-Request-Timeout");
      res.set(http::field::access_control_max_age, "600");
    }
    return Respond(std::move(res));
  }

  // Ops endpoints are never rate limited: probes must not be starved.
  if (path == "/healthz" || path == "/readyz" || path == "/metrics") {
    route_label_ = std::string(path);
    if (req_.method() != http::verb::get) return RespondError(grpc::StatusCode::UNIMPLEMENTED, "method not allowed", false, "", 405);
    if (path == "/healthz") return RespondJson(200, R"({"status":"alive"})");
    if (path == "/readyz") {
      return RespondJson(impl_->health->Serving() ? 200 : 503, impl_->health->ToJson());
    }
    Response res{http::status::ok, 11};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = metrics::Serialize();
    return Respond(std::move(res));
  }

  if (!impl_->limiter.Allow(client_)) {
    route_label_ = "rate_limited";
    Response res{http::status::too_many_requests, 11};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::retry_after, "1");
    res.body() = StatusJson(grpc::StatusCode::RESOURCE_EXHAUSTED, "rate limit exceeded: slow down");
    return Respond(std::move(res));
  }

  if (path == "/api/v1/routes" || path == "/openapi.json") {
    route_label_ = std::string(path);
    if (req_.method() != http::verb::get) return RespondError(grpc::StatusCode::UNIMPLEMENTED, "method not allowed", false, "", 405);
    return RespondJson(200, path == "/openapi.json" ? impl_->openapi_json : impl_->routes_json);
  }

  const std::string method(req_.method_string());
  RouteTable::MatchResult match = impl_->routes->Match(method, path);
  if (match.outcome == RouteTable::Outcome::kFound) {
    route_label_ = match.route->path.text();
    method_label_ = match.route->http_method;
    return HandleApi(match, query);
  }
  if (match.outcome == RouteTable::Outcome::kMethodNotAllowed) {
    return RespondError(grpc::StatusCode::UNIMPLEMENTED, absl::StrCat("method ", method, " not allowed on ", path), false, "",
                        405);
  }
  if (req_.method() == http::verb::get) {
    if (auto asset = impl_->assets.Find(path)) {
      route_label_ = "static";
      Response res{http::status::ok, 11};
      res.set(http::field::content_type, asset->content_type);
      res.set(http::field::cache_control, "no-cache");
      res.set("X-Content-Type-Options", "nosniff");
      res.body() = std::move(asset->body);
      return Respond(std::move(res));
    }
  }
  RespondError(grpc::StatusCode::NOT_FOUND, absl::StrCat("no route for ", method, " ", path));
}

absl::StatusOr<std::optional<absl::Duration>> Session::RequestDeadline() const {
  std::optional<absl::Duration> d;
  if (auto it = req_.find("Grpc-Timeout"); it != req_.end()) {
    auto parsed = ParseGrpcTimeout(absl::string_view(it->value().data(), it->value().size()));
    if (!parsed.ok()) return parsed.status();
    d = *parsed;
  } else if (auto it2 = req_.find("X-Request-Timeout"); it2 != req_.end()) {
    const absl::string_view v(it2->value().data(), it2->value().size());
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
  if (d) d = std::min(*d, impl_->options.max_deadline);
  return d;
}

void Session::HandleApi(const RouteTable::MatchResult& match, absl::string_view query) {
  const Route& route = *match.route;
  // gRPC core aborts the whole process on a metadata value outside printable
  // ASCII (logging the value, a credential, on the way): refuse it here, and
  // never echo it back.
  std::optional<std::string> authorization;
  if (auto auth = req_.find(http::field::authorization); auth != req_.end()) {
    if (!IsForwardableMetadataValue(Sv(auth->value()))) {
      return RespondError(grpc::StatusCode::UNAUTHENTICATED, absl::StrCat("Authorization header must be printable ASCII of at most ",
                                           kMaxForwardedHeaderBytes, " bytes"));
    }
    authorization = std::string(auth->value());
  }
  auto request = BuildRequest(route, match.bindings, query, req_.body());
  if (!request.ok()) return RespondError(grpc::StatusCode::INVALID_ARGUMENT, std::string(request.status().message()));
  auto deadline = RequestDeadline();
  if (!deadline.ok()) return RespondError(grpc::StatusCode::INVALID_ARGUMENT, std::string(deadline.status().message()));
  grpc::GenericStub* stub = impl_->upstreams->StubFor(route.method->service()->full_name());
  if (stub == nullptr) return RespondError(grpc::StatusCode::UNIMPLEMENTED, "no upstream serves this route");

  if (route.server_streaming) {
    switch (impl_->AcquireStreamSlot(client_)) {
      case Impl::StreamSlot::kClientFull:
        return RespondError(grpc::StatusCode::RESOURCE_EXHAUSTED, absl::StrCat("too many concurrent streams from this client (limit ",
                                            impl_->options.max_streams_per_client, ")"));
      case Impl::StreamSlot::kServerFull:
        return RespondError(grpc::StatusCode::UNAVAILABLE, absl::StrCat("too many concurrent streams (limit ",
                                             impl_->options.max_streams, "); retry later"));
      case Impl::StreamSlot::kGranted:
        holds_stream_slot_ = true;  // returned when the connection closes
        break;
    }
    return StartSse(route, *std::move(request), *deadline, std::move(authorization));
  }

  struct UnaryCall {
    grpc::ClientContext ctx;
    grpc::ByteBuffer request;
    grpc::ByteBuffer response;
  };
  auto call = std::make_shared<UnaryCall>();
  call->request = MessageToByteBuffer(**request);
  call->ctx.set_deadline(
      std::chrono::system_clock::now() +
      absl::ToChronoNanoseconds(deadline->value_or(impl_->options.default_deadline)));
  if (authorization) call->ctx.AddMetadata("authorization", *authorization);
  impl_->Track(&call->ctx, /*stream=*/false);
  stub->UnaryCall(
      &call->ctx, route.grpc_path, grpc::StubOptions(), &call->request, &call->response,
      [self = shared_from_this(), call, route_ptr = &route, impl = impl_](grpc::Status st) mutable {
        int http_status = 200;
        std::string body;
        std::string details;
        grpc::StatusCode code = st.error_code();
        if (st.ok()) {
          grpc::Slice single;
          std::string scratch;
          auto json =
              ResponseBytesToJson(*route_ptr, ByteBufferBytes(call->response, &single, &scratch));
          if (json.ok()) {
            body = *std::move(json);
          } else {  // undecodable, or the JSON mapping refused it
            code = grpc::StatusCode::INTERNAL;
            st = grpc::Status(grpc::StatusCode::INTERNAL, std::string(json.status().message()));
          }
        }
        if (code != grpc::StatusCode::OK) {
          http_status = HttpStatusFromGrpc(code);
          details = st.error_details();
        }
        Session* raw = self.get();
        net::post(raw->executor(), [self = std::move(self), http_status, code, body = std::move(body),
                                    msg = st.error_message(), details = std::move(details)]() mutable {
          if (code != grpc::StatusCode::OK) return self->RespondError(code, std::move(msg), false, details);
          self->RespondJson(http_status, std::move(body));
        });
        impl->Untrack(&call->ctx);  // last touch of the server
      });
}

void Session::StartSse(const Route& route, std::unique_ptr<google::protobuf::Message> request,
                       std::optional<absl::Duration> deadline,
                       std::optional<std::string> authorization) {
  auto call = std::make_shared<SseCall>(shared_from_this(), &route, impl_);
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
  impl_->Observe(route_label_, method_label_, 200, started_);
  Enqueue(std::move(head), nullptr);
  heartbeat_.emplace(stream_.get_executor());
  Heartbeat();
  WatchClient();
  call->Begin(impl_->upstreams->StubFor(route.method->service()->full_name()));
}

void Session::SseEvent(std::string data, std::shared_ptr<SseCall> call) {
  Enqueue(absl::StrCat("data: ", data, "\n\n"), [call, self = shared_from_this()] {
    if (self->closed_) call->Cancel();
    call->ReadMore();
  });
}

void Session::SseEnd(const grpc::Status& status) {
  sse_ended_ = true;
  if (heartbeat_) heartbeat_->cancel();
  const std::string body = StatusJson(status.error_code(), status.error_message(),
                                      status.error_details());
  Enqueue(absl::StrCat("event: end\ndata: ", body, "\n\n"), [self = shared_from_this()] {
    self->EndRequest();
    self->LingerClose();
  });
}

void Session::Heartbeat() {
  heartbeat_->expires_after(Chrono(impl_->options.sse_heartbeat));
  heartbeat_->async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || self->sse_ended_ || self->closed_) return;
    // A comment line: ignored by EventSource, keeps proxies and NATs open.
    self->Enqueue(": keep-alive\n\n", nullptr);
    self->Heartbeat();
  });
}

// While streaming, the only thing a client sends is its goodbye: a read that
// ends means it went away, and the upstream call is cancelled.
void Session::WatchClient() {
  stream_.socket().async_read_some(
      net::buffer(watch_buf_), [self = shared_from_this()](beast::error_code ec, size_t) {
        if (!ec && !self->closed_) return self->WatchClient();
        if (auto call = self->sse_call_.lock()) call->Cancel();
      });
}

void Session::Enqueue(std::string bytes, std::function<void()> done) {
  outq_.emplace_back(std::move(bytes), std::move(done));
  if (!writing_) WriteNext();
}

void Session::WriteNext() {
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
  stream_.expires_after(Chrono(impl_->options.stream_write_timeout));
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

void Session::AddCors(Response& res) const {
  auto origin = req_.find(http::field::origin);
  if (origin == req_.end() || !impl_->OriginAllowed(Sv(origin->value()))) return;
  res.set(http::field::access_control_allow_origin, origin->value());
  res.set(http::field::vary, "Origin");
  res.set(http::field::access_control_expose_headers, "WWW-Authenticate, Retry-After");
}

std::string Session::CorsHeaderLines() const {
  auto origin = req_.find(http::field::origin);
  if (origin == req_.end() || !impl_->OriginAllowed(Sv(origin->value()))) return "";
  return absl::StrCat("Access-Control-Allow-Origin: ", Sv(origin->value()),
                      "\r\nVary: Origin\r\n");
}

void Session::RespondJson(int status, std::string body, bool force_close) {
  Response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  Respond(std::move(res), force_close);
}

void Session::RespondError(grpc::StatusCode grpc_code, std::string message, bool force_close,
                           absl::string_view details_bin, int http_status) {
  const int status = http_status != 0 ? http_status : HttpStatusFromGrpc(grpc_code);
  Response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  if (grpc_code == grpc::StatusCode::UNAUTHENTICATED) res.set(http::field::www_authenticate, "Bearer realm=\"iss\"");
  res.body() = StatusJson(grpc_code, message, details_bin);
  Respond(std::move(res), force_close);
}

void Session::Respond(Response res, bool force_close) {
  const bool keep = !force_close && req_.keep_alive() && !impl_->draining();
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
  impl_->Observe(route_label_, method_label_, res.result_int(), started_);
  auto sp = std::make_shared<Response>(std::move(res));
  stream_.expires_after(Chrono(impl_->options.read_timeout));
  http::async_write(stream_, *sp, [self = shared_from_this(), sp, keep](beast::error_code ec, size_t) {
    self->OnWritten(ec, keep);
  });
}

void Session::OnWritten(beast::error_code ec, bool keep_alive) {
  EndRequest();
  if (ec) return CloseNow();
  if (!keep_alive) return LingerClose();
  req_ = {};
  ReadNext();
}

// Half-closes, then reads and drops what the client still sends for a moment,
// so an unread request body does not turn our final answer into a reset.
void Session::LingerClose() {
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

void Session::ReleaseStreamSlot() {
  if (!holds_stream_slot_) return;
  holds_stream_slot_ = false;
  impl_->ReleaseStreamSlot(client_);
}

void Session::CloseNow() {
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

void Impl::Accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || draining()) return;
    if (!ec) {
      beast::error_code opt_ec;
      socket.set_option(tcp::no_delay(true), opt_ec);
      std::make_shared<Session>(std::move(socket), this)->Start();
    }
    Accept();
  });
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options,
                                                      const RouteTable* routes,
                                                      Upstreams* upstreams, Health* health) {
  auto impl = std::make_shared<Impl>(options, routes, upstreams, health);
  const size_t colon = options.address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(options.address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("bad listen address ", options.address));
  }
  std::string host = options.address.substr(0, colon);
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  beast::error_code ec;
  const auto addr = net::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("bad listen host \"", host, "\""));
  const tcp::endpoint ep(addr, static_cast<unsigned short>(port));
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("listening on ", options.address, ": ", ec.message()));
  }
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  for (int i = 0; i < std::max(1, options.threads); ++i) {
    impl->threads.emplace_back([raw = impl.get()] { raw->ioc.run(); });
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::port() const { return impl_->port; }

void Server::Shutdown(absl::Duration grace) {
  if (impl_->stopped.exchange(true)) return;
  impl_->draining_ = true;
  impl_->health->SetShuttingDown();
  net::post(impl_->acceptor.get_executor(), [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
  // Live streams never end on their own: end them now (each gets its final
  // event); unary calls keep running until done or the grace period ends.
  const absl::Time deadline = absl::Now() + grace;
  impl_->CancelAll(/*streams_only=*/true);
  while (absl::Now() < deadline && (impl_->active.load() > 0 || impl_->InflightCalls() > 0)) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  impl_->CancelAll();
  {
    std::unique_lock<std::mutex> lock(impl_->calls_mu);
    impl_->calls_cv.wait(lock, [&] { return impl_->calls.empty(); });
  }
  impl_->ioc.stop();
  for (std::thread& t : impl_->threads) t.join();
  log::Info("gateway stopped", {{"in_flight_at_stop", impl_->active.load()}});
}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

}  // namespace iss::gateway
