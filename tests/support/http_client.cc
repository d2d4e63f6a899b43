#include <utility>  // before any Asio header

#include "tests/support/http_client.h"

#include "absl/strings/ascii.h"
#include "boost/asio.hpp"
#include "boost/beast/core.hpp"

namespace iss::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

std::string HttpResponse::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

HttpResponse ToHttpResponse(const http::response<http::string_body>& res) {
  HttpResponse out;
  out.status = res.result_int();
  for (const auto& f : res) {
    out.headers.emplace(absl::AsciiStrToLower(std::string(f.name_string())),
                        std::string(f.value()));
  }
  out.body = res.body();
  return out;
}

HttpResponse HttpCall(int port, const std::string& method, const std::string& target,
                      const std::string& body,
                      const std::vector<std::pair<std::string, std::string>>& headers) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  stream.expires_after(std::chrono::seconds(30));
  stream.connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)), ec);
  if (ec) return {};
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
    req.prepare_payload();
  http::write(stream, req, ec);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  http::read(stream, buffer, parser, ec);
  if (ec && !parser.is_header_done()) return {};
  return ToHttpResponse(parser.get());
}

}  // namespace iss::testing
