#include <utility>  // before Asio: Boost 1.74 + g++ 12 (stack.md pitfall 7)

#include "common/ops_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/endpoint.h"
#include "common/log.h"
#include "common/metrics.h"

namespace iss {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// Serves one connection: requests in order (keep-alive), until the peer
// closes, an error occurs, or the request is not a small GET.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Health* health) : stream_(std::move(socket)), health_(health) {}

  void Read() {
    req_ = {};
    parser_.emplace();
    parser_->body_limit(0);  // GET only: any body is refused
    parser_->header_limit(8 * 1024);
    stream_.expires_after(std::chrono::seconds(10));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec) {
      if (ec != http::error::end_of_stream)
        Reply(http::status::bad_request, "text/plain", "bad request\n", false);
      return;
    }
    req_ = parser_->release();
    const std::string target(req_.target());
    if (req_.method() != http::verb::get && req_.method() != http::verb::head) {
      Reply(http::status::method_not_allowed, "text/plain", "only GET\n", req_.keep_alive());
    } else if (std::optional<OpsAnswer> ops = AnswerOps(target, *health_)) {
      Reply(static_cast<http::status>(ops->status), ops->content_type, std::move(ops->body),
            req_.keep_alive());
    } else {
      Reply(http::status::not_found, "text/plain", "not found: try /healthz /readyz /metrics\n",
            req_.keep_alive());
    }
  }

  void Reply(http::status status, const std::string& type, std::string body, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>(status, 11);
    res->set(http::field::content_type, type);
    res->set(http::field::cache_control, "no-store");
    res->keep_alive(keep_alive);
    res->body() = std::move(body);
    res->prepare_payload();
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                        if (!ec && keep_alive) {
                          self->Read();
                        } else {
                          beast::error_code ignored;
                          self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                        }
                      });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  http::request<http::empty_body> req_;
  Health* health_;
};

}  // namespace

std::optional<OpsAnswer> AnswerOps(std::string_view path, const Health& health) {
  if (path == "/healthz") return OpsAnswer{200, "application/json", "{\"status\":\"alive\"}\n"};
  if (path == "/readyz") {
    return OpsAnswer{health.Serving() ? 200 : 503, "application/json", health.ToJson() + "\n"};
  }
  if (path == "/metrics") {
    return OpsAnswer{200, "text/plain; version=0.0.4; charset=utf-8", metrics::Serialize()};
  }
  return std::nullopt;
}

struct OpsServer::Impl {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  Health* health = nullptr;
  std::thread thread;

  void Accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted) return;
      } else {
        std::make_shared<Session>(std::move(socket), health)->Read();
      }
      Accept();
    });
  }
};

absl::StatusOr<std::unique_ptr<OpsServer>> OpsServer::Start(const std::string& address,
                                                            Health* health) {
  const absl::StatusOr<tcp::endpoint> listen = net::ListenEndpoint(address);
  if (!listen.ok()) return listen.status();
  auto impl = std::make_unique<Impl>();
  impl->health = health;
  beast::error_code ec;
  const tcp::endpoint& ep = *listen;
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, ": ", ec.message()));
  }
  impl->Accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  log::Info("ops http listening",
            {{"address", address}, {"port", raw->acceptor.local_endpoint().port()}});
  return std::unique_ptr<OpsServer>(new OpsServer(std::move(impl)));
}

OpsServer::OpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

OpsServer::~OpsServer() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int OpsServer::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace iss
