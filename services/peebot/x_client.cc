#include "services/peebot/x_client.h"

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
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

namespace iss::peebot {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

constexpr size_t kMaxResponseBytes = 1 << 20;

template <typename Stream>
asio::awaitable<void> Exchange(Stream& stream, Request& req, Response& res) {
  co_await http::async_write(stream, req, asio::use_awaitable);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBytes);
  co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
  res = parser.release();
}

}  // namespace

XPostResult InterpretXResponse(int http_status, const std::map<std::string, std::string>& headers,
                               const std::string& body) {
  XPostResult r;
  r.http_status = http_status;
  if (auto it = headers.find("x-rate-limit-reset"); it != headers.end()) {
    int64_t reset = 0;
    if (absl::SimpleAtoi(it->second, &reset)) r.rate_limit_reset = absl::FromUnixSeconds(reset);
  }
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    if (j.contains("data") && j["data"].is_object() && j["data"].contains("id") &&
        j["data"]["id"].is_string()) {
      r.post_id = j["data"]["id"].get<std::string>();
    }
    if (j.contains("detail") && j["detail"].is_string()) {
      r.detail = j["detail"].get<std::string>();
    } else if (j.contains("title") && j["title"].is_string()) {
      r.detail = j["title"].get<std::string>();
    }
  }
  if (r.detail.empty() && http_status >= 300) r.detail = body.substr(0, 200);
  r.duplicate =
      http_status == 403 && absl::StrContains(absl::AsciiStrToLower(r.detail), "duplicate");
  return r;
}

absl::StatusOr<std::unique_ptr<XClient>> XClient::Create(XClientOptions options) {
  absl::string_view url = options.base_url;
  Target t;
  if (absl::ConsumePrefix(&url, "https://")) {
    t.tls = true;
  } else if (!absl::ConsumePrefix(&url, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("X base URL must start with http:// or https://: ", options.base_url));
  }
  const size_t slash = url.find('/');
  absl::string_view authority = url.substr(0, slash);
  if (slash != absl::string_view::npos) t.path_prefix = std::string(url.substr(slash));
  while (!t.path_prefix.empty() && t.path_prefix.back() == '/') t.path_prefix.pop_back();
  const size_t colon = authority.rfind(':');
  if (colon != absl::string_view::npos) {
    t.host = std::string(authority.substr(0, colon));
    t.port = std::string(authority.substr(colon + 1));
    int port = 0;
    if (!absl::SimpleAtoi(t.port, &port) || port <= 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("bad port in X base URL: ", options.base_url));
    }
  } else {
    t.host = std::string(authority);
    t.port = t.tls ? "443" : "80";
  }
  if (t.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("no host in X base URL: ", options.base_url));
  }
  // Every request carries OAuth credentials (signed, but the token is in the
  // header): plain http only where nothing leaves the machine, i.e. tests
  // talking to the fake X server.
  const std::string host = absl::AsciiStrToLower(t.host);
  if (!t.tls && host != "127.0.0.1" && host != "localhost" && host != "::1" && host != "[::1]") {
    return absl::InvalidArgumentError(absl::StrCat(
        "X base URL must use https:// (plain http:// is allowed only for loopback hosts "
        "127.0.0.1, localhost and ::1, e.g. a test server): ",
        options.base_url));
  }
  return std::unique_ptr<XClient>(new XClient(std::move(options), std::move(t)));
}

absl::StatusOr<XPostResult> XClient::CreatePost(const std::string& text) {
  const std::string path = absl::StrCat(target_.path_prefix, "/2/tweets");
  const std::string url =
      absl::StrCat(target_.tls ? "https://" : "http://", target_.host, ":", target_.port, path);
  auto auth = signer_.AuthorizationHeader("POST", url, {});
  if (!auth.ok()) return auth.status();

  Request req{http::verb::post, path, 11};
  const bool default_port =
      (target_.tls && target_.port == "443") || (!target_.tls && target_.port == "80");
  req.set(http::field::host,
          default_port ? target_.host : absl::StrCat(target_.host, ":", target_.port));
  req.set(http::field::user_agent, "iss-peebot/1");
  req.set(http::field::content_type, "application/json");
  req.set(http::field::authorization, *auth);
  req.body() = nlohmann::json{{"text", text}}.dump();
  req.prepare_payload();

  asio::io_context ioc;
  Response res;
  absl::Status status = absl::OkStatus();
  auto run = [&]() -> asio::awaitable<void> {
    // Beast reports failures as exceptions under use_awaitable; they are
    // caught here and become a Status, so none leaves the client.
    try {
      auto ex = co_await asio::this_coro::executor;
      tcp::resolver resolver(ex);
      auto endpoints =
          co_await resolver.async_resolve(target_.host, target_.port, asio::use_awaitable);
      if (!target_.tls) {
        beast::tcp_stream stream(ex);
        stream.expires_after(
            std::chrono::microseconds(absl::ToInt64Microseconds(options_.timeout)));
        co_await stream.async_connect(endpoints, asio::use_awaitable);
        co_await Exchange(stream, req, res);
        beast::error_code ec;
        stream.socket().shutdown(tcp::socket::shutdown_both, ec);
        co_return;
      }
      asio::ssl::context ctx(asio::ssl::context::tls_client);
      ctx.set_default_verify_paths();
      if (!options_.ca_file.empty()) ctx.load_verify_file(options_.ca_file);
      ctx.set_verify_mode(asio::ssl::verify_peer);
      beast::ssl_stream<beast::tcp_stream> stream(ex, ctx);
      stream.set_verify_callback(asio::ssl::host_name_verification(target_.host));
      if (!SSL_set_tlsext_host_name(stream.native_handle(), target_.host.c_str())) {
        status = absl::InternalError("cannot set TLS SNI");
        co_return;
      }
      beast::get_lowest_layer(stream).expires_after(
          std::chrono::microseconds(absl::ToInt64Microseconds(options_.timeout)));
      co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
      co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
      co_await Exchange(stream, req, res);
      beast::error_code ec;
      beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
    } catch (const boost::system::system_error& e) {
      if (e.code() == beast::error::timeout) {
        status = absl::DeadlineExceededError(absl::StrCat("X API timed out: ", e.what()));
      } else {
        status = absl::UnavailableError(absl::StrCat("X API unreachable: ", e.what()));
      }
    } catch (const std::exception& e) {
      status = absl::UnavailableError(absl::StrCat("X API call failed: ", e.what()));
    }
  };
  asio::co_spawn(ioc, run(), asio::detached);
  ioc.run();
  if (!status.ok()) return status;

  std::map<std::string, std::string> headers;
  for (const auto& field : res.base()) {
    headers[absl::AsciiStrToLower(std::string(field.name_string()))] = std::string(field.value());
  }
  return InterpretXResponse(res.result_int(), headers, res.body());
}

}  // namespace iss::peebot
