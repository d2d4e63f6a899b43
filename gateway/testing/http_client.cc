#include <utility>  // before any Asio header

#include "gateway/testing/http_client.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "boost/asio.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"

namespace iss::gateway::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

std::vector<HttpResponse> RawExchange(int port, const std::string& bytes, int max_responses,
                                      absl::Duration timeout) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  stream.expires_after(absl::ToChronoNanoseconds(timeout));
  stream.connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)), ec);
  std::vector<HttpResponse> out;
  if (ec) return out;
  net::write(stream, net::buffer(bytes), ec);
  beast::flat_buffer buffer;
  for (int i = 0; i < max_responses; ++i) {
    http::response_parser<http::string_body> parser;
    http::read(stream, buffer, parser, ec);
    if (ec) break;
    out.push_back(iss::testing::ToHttpResponse(parser.get()));
  }
  return out;
}

struct RawConnection::Impl {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
};

RawConnection::RawConnection(int port) : impl_(std::make_unique<Impl>()) {
  beast::error_code ec;
  impl_->stream.connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)), ec);
  if (ec) closed_ = true;
}

RawConnection::~RawConnection() { Close(); }

void RawConnection::Send(const std::string& bytes) {
  if (closed_) return;
  beast::error_code ec;
  net::write(impl_->stream, net::buffer(bytes), ec);
  if (ec) closed_ = true;
}

void RawConnection::ReadSome(absl::Time deadline) {
  char buf[4096];
  beast::error_code ec;
  impl_->stream.expires_at(absl::ToChronoTime(deadline) - std::chrono::system_clock::now() +
                           std::chrono::steady_clock::now());
  // tcp_stream's timeouts only apply to async operations: run one.
  size_t n = 0;
  impl_->stream.async_read_some(net::buffer(buf), [&](beast::error_code e, size_t got) {
    ec = e;
    n = got;
  });
  impl_->ioc.restart();
  impl_->ioc.run();
  received_.append(buf, n);
  if (ec) closed_ = true;
}

void RawConnection::Close() {
  beast::error_code ec;
  impl_->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  impl_->stream.socket().close(ec);
  closed_ = true;
}

SseClient::SseClient(int port, const std::string& target,
                     const std::vector<std::pair<std::string, std::string>>& headers)
    : RawConnection(port) {
  std::string req =
      "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  req += "\r\n";
  Send(req);
}

std::vector<std::string> SseClient::DataLines() const {
  std::vector<std::string> out;
  const std::string& got = received();
  const size_t body = got.find("\r\n\r\n");
  if (body == std::string::npos) return out;
  for (absl::string_view line : absl::StrSplit(absl::string_view(got).substr(body + 4), '\n')) {
    if (absl::StartsWith(line, "data: ")) out.emplace_back(line.substr(6));
  }
  return out;
}

}  // namespace iss::gateway::testing
