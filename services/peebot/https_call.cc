#include "services/peebot/https_call.h"

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <utility>  // before Asio (Boost 1.74 + g++ 12, see shared notes)

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace iss::peebot {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

constexpr size_t kMaxResponseBytes = 1 << 20;
// Marks a transport error that happened once the request was being written.
constexpr char kWrittenPayload[] = "type.iss/peebot.RequestWritten";

template <typename Stream>
asio::awaitable<void> Exchange(Stream& stream, Request& req, Response& res, bool* written) {
  *written = true;
  co_await http::async_write(stream, req, asio::use_awaitable);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBytes);
  co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
  res = parser.release();
}

bool IsLoopback(const std::string& host) {
  const std::string h = absl::AsciiStrToLower(host);
  return h == "127.0.0.1" || h == "localhost" || h == "::1" || h == "[::1]";
}

}  // namespace

std::string HttpEndpoint::HostHeader() const {
  const bool default_port = (tls && port == "443") || (!tls && port == "80");
  return default_port ? host : absl::StrCat(host, ":", port);
}

std::string HttpEndpoint::Origin() const {
  return absl::StrCat(tls ? "https://" : "http://", host, ":", port);
}

absl::StatusOr<HttpEndpoint> ParseHttpEndpoint(absl::string_view url_in, absl::string_view what) {
  absl::string_view url = url_in;
  HttpEndpoint e;
  if (absl::ConsumePrefix(&url, "https://")) {
    e.tls = true;
  } else if (!absl::ConsumePrefix(&url, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must start with http:// or https://: ", url_in));
  }
  url = url.substr(0, url.find('#'));
  const size_t path_start = url.find_first_of("/?");
  absl::string_view authority = url.substr(0, path_start);
  if (path_start != absl::string_view::npos) {
    e.path = std::string(url.substr(path_start));
    if (e.path[0] == '?') e.path.insert(0, "/");
  }
  while (!e.path.empty() && e.path.back() == '/') e.path.pop_back();
  if (authority.find('@') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must not carry credentials before the host: ", url_in));
  }
  // An IPv6 literal keeps its brackets; the port follows the closing one.
  const size_t bracket = authority.find(']');
  const size_t colon = authority.find(':', bracket == absl::string_view::npos ? 0 : bracket);
  if (colon != absl::string_view::npos) {
    e.host = std::string(authority.substr(0, colon));
    e.port = std::string(authority.substr(colon + 1));
    int port = 0;
    if (!absl::SimpleAtoi(e.port, &port) || port <= 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("bad port in ", what, ": ", url_in));
    }
  } else {
    e.host = std::string(authority);
    e.port = e.tls ? "443" : "80";
  }
  if (e.host.empty() || e.host == "[]") {
    return absl::InvalidArgumentError(absl::StrCat("no host in ", what, ": ", url_in));
  }
  // Every request carries credentials: plain http only where nothing leaves
  // the machine, i.e. tests talking to a fake server.
  if (!e.tls && !IsLoopback(e.host)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what,
                     " must use https:// (plain http:// is allowed only for loopback hosts "
                     "127.0.0.1, localhost and ::1, e.g. a test server): ",
                     url_in));
  }
  return e;
}

absl::StatusOr<HttpResponse> SendHttp(const HttpEndpoint& endpoint, const HttpRequest& request,
                                      const HttpCallOptions& options) {
  const http::verb verb = http::string_to_verb(request.method);
  if (verb == http::verb::unknown) {
    return absl::InvalidArgumentError(absl::StrCat("unknown HTTP method ", request.method));
  }
  Request req{verb, request.target.empty() ? "/" : request.target, 11};
  req.set(http::field::host, endpoint.HostHeader());
  req.set(http::field::user_agent, "iss-peebot/1");
  for (const auto& [name, value] : request.headers) req.set(name, value);
  req.body() = request.body;
  req.prepare_payload();
  // Host names resolve without brackets.
  std::string host = endpoint.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }

  asio::io_context ioc;
  Response res;
  bool written = false;
  absl::Status status = absl::OkStatus();
  const auto expiry = std::chrono::microseconds(absl::ToInt64Microseconds(options.timeout));
  auto run = [&]() -> asio::awaitable<void> {
    // Beast reports failures as exceptions under use_awaitable; they are
    // caught here and become a Status, so none leaves the client.
    try {
      auto ex = co_await asio::this_coro::executor;
      tcp::resolver resolver(ex);
      auto endpoints = co_await resolver.async_resolve(host, endpoint.port, asio::use_awaitable);
      if (!endpoint.tls) {
        beast::tcp_stream stream(ex);
        stream.expires_after(expiry);
        co_await stream.async_connect(endpoints, asio::use_awaitable);
        co_await Exchange(stream, req, res, &written);
        beast::error_code ec;
        stream.socket().shutdown(tcp::socket::shutdown_both, ec);
        co_return;
      }
      asio::ssl::context ctx(asio::ssl::context::tls_client);
      ctx.set_default_verify_paths();
      if (!options.ca_file.empty()) ctx.load_verify_file(options.ca_file);
      ctx.set_verify_mode(asio::ssl::verify_peer);
      beast::ssl_stream<beast::tcp_stream> stream(ex, ctx);
      stream.set_verify_callback(asio::ssl::host_name_verification(host));
      if (!SSL_set_tlsext_host_name(stream.native_handle(), host.c_str())) {
        status = absl::InternalError("cannot set TLS SNI");
        co_return;
      }
      beast::get_lowest_layer(stream).expires_after(expiry);
      co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
      co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
      co_await Exchange(stream, req, res, &written);
      beast::error_code ec;
      beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
    } catch (const boost::system::system_error& e) {
      if (e.code() == beast::error::timeout) {
        status = absl::DeadlineExceededError(absl::StrCat(options.what, " timed out: ", e.what()));
      } else {
        status = absl::UnavailableError(absl::StrCat(options.what, " unreachable: ", e.what()));
      }
    } catch (const std::exception& e) {
      status = absl::UnavailableError(absl::StrCat(options.what, " call failed: ", e.what()));
    }
  };
  asio::co_spawn(ioc, run(), asio::detached);
  ioc.run();
  if (!status.ok()) {
    if (written) status.SetPayload(kWrittenPayload, absl::Cord("1"));
    return status;
  }
  HttpResponse out;
  out.status = res.result_int();
  for (const auto& field : res.base()) {
    out.headers[absl::AsciiStrToLower(std::string(field.name_string()))] =
        std::string(field.value());
  }
  out.body = std::move(res.body());
  return out;
}

std::optional<int64_t> IntHeader(const std::map<std::string, std::string>& headers,
                                 const std::string& lower_case_name) {
  auto it = headers.find(lower_case_name);
  int64_t v = 0;
  if (it == headers.end() || !absl::SimpleAtoi(it->second, &v)) return std::nullopt;
  return v;
}

bool RequestMayHaveArrived(const absl::Status& status) {
  return !status.ok() && status.GetPayload(kWrittenPayload).has_value();
}

}  // namespace iss::peebot
