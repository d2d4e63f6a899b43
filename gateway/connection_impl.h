// Internal to the gateway's connection: the Connection class, shared by the
// file that reads requests, writes responses and closes (connection.cc) and
// the one that answers them: routing, the unary and SSE bridges
// (connection_answer.cc). Nothing else includes it.
#pragma once

#include <utility>  // before any Asio header (Boost 1.74 + g++ 12)

#include "gateway/connection.h"

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

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

namespace iss::gateway::connection_internal {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Response = http::response<http::string_body>;

inline std::chrono::steady_clock::duration Chrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(d);
}

inline absl::string_view Sv(boost::beast::string_view s) {
  return absl::string_view(s.data(), s.size());
}

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
  void OnBatchWritten(beast::error_code ec, size_t entries);
  void ReleaseParkedRead();
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
  size_t outq_bytes_ = 0;  // queued for the client, the batch being written included
  std::vector<net::const_buffer> write_batch_;  // the entries of outq_ being written
  // The upstream call whose next read waits until outq_ drains (see SseEvent).
  std::shared_ptr<SseCall> parked_read_;
  bool writing_ = false;
  bool sse_ended_ = false;
  bool closed_ = false;
  std::optional<net::steady_timer> heartbeat_;
  std::shared_ptr<std::function<void()>> linger_;
  std::array<char, 512> watch_buf_;
};

}  // namespace iss::gateway::connection_internal
