#include "services/peebot/testing/fake_http_server.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <fstream>
#include <thread>
#include <utility>  // before Asio (Boost 1.74 + g++ 12)

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace iss::peebot::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// A throwaway key and self-signed certificate for 127.0.0.1 (P-256), as PEM.
absl::Status MakeSelfSigned(std::string* key_pem, std::string* cert_pem) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) return absl::InternalError("EVP_EC_gen failed");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), static_cast<long>(getpid()));
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1"},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext != nullptr) {
      X509_add_ext(cert, ext, -1);
      X509_EXTENSION_free(ext);
    }
  }
  const bool signed_ok = X509_sign(cert, key, EVP_sha256()) > 0;
  BIO* kb = BIO_new(BIO_s_mem());
  BIO* cb = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(kb, key, nullptr, nullptr, 0, nullptr, nullptr);
  PEM_write_bio_X509(cb, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(kb, &data);
  key_pem->assign(data, static_cast<size_t>(n));
  n = BIO_get_mem_data(cb, &data);
  cert_pem->assign(data, static_cast<size_t>(n));
  BIO_free(kb);
  BIO_free(cb);
  X509_free(cert);
  EVP_PKEY_free(key);
  return signed_ok ? absl::OkStatus() : absl::InternalError("X509_sign failed");
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
               HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::map<std::string, std::string> DecodeForm(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('&', start);
    if (end == std::string::npos) end = text.size();
    const std::string pair = text.substr(start, end - start);
    if (!pair.empty()) {
      const size_t eq = pair.find('=');
      out[PercentDecode(pair.substr(0, eq))] =
          eq == std::string::npos ? "" : PercentDecode(pair.substr(eq + 1));
    }
    start = end + 1;
  }
  return out;
}

std::string FakeHttpRequest::Header(const std::string& lower_case_name) const {
  auto it = headers.find(lower_case_name);
  return it == headers.end() ? "" : it->second;
}

FakeHttpResponse FakeHttpResponse::Json(int status, const nlohmann::json& body) {
  FakeHttpResponse r;
  r.status = status;
  r.body = body.dump();
  return r;
}

FakeHttpResponse FakeHttpResponse::Text(int status, std::string body, std::string content_type) {
  FakeHttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

FakeHttpResponse FakeHttpResponse::Drop() {
  FakeHttpResponse r;
  r.drop = true;
  return r;
}

std::optional<FakeHttpResponse> FakeReply::TransportAnswer(const std::string& html_page) const {
  if (!drop && !html) return std::nullopt;
  FakeHttpResponse res =
      drop ? FakeHttpResponse::Drop() : FakeHttpResponse::Text(status, html_page, "text/html");
  res.delay = delay;
  return res;
}

struct FakeHttpServer::Impl {
  Handler handler;
  Options options;
  asio::ssl::context ssl{asio::ssl::context::tls_server};
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::thread thread;
  std::atomic<bool> stopping{false};

  void Serve() {
    while (!stopping.load()) {
      beast::error_code ec;
      tcp::socket socket(ioc);
      acceptor.accept(socket, ec);
      if (ec || stopping.load()) continue;
      // A stuck client must not wedge the server: bounded blocking reads.
      timeval tv{5, 0};
      setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      if (!options.tls) {
        HandleConnection(socket);
        continue;
      }
      asio::ssl::stream<tcp::socket&> stream(socket, ssl);
      stream.handshake(asio::ssl::stream_base::server, ec);
      if (!ec) HandleConnection(stream);
    }
  }

  template <typename Stream>
  void HandleConnection(Stream& stream) {
    beast::flat_buffer buffer;
    for (;;) {
      beast::error_code ec;
      http::request_parser<http::string_body> parser;
      parser.body_limit(options.max_body);
      http::read(stream, buffer, parser, ec);
      FakeHttpRequest req;
      if (ec == http::error::body_limit) {
        req.body_too_large = true;
      } else if (ec) {
        return;  // closed, timed out, or not HTTP
      }
      const auto& raw = parser.get();
      req.method = std::string(raw.method_string());
      req.target = std::string(raw.target());
      const size_t q = req.target.find('?');
      req.path = req.target.substr(0, q);
      if (q != std::string::npos) req.query = DecodeForm(req.target.substr(q + 1));
      for (const auto& field : raw.base()) {
        req.headers[absl::AsciiStrToLower(std::string(field.name_string()))] =
            std::string(field.value());
      }
      if (!req.body_too_large) req.body = raw.body();
      const FakeHttpResponse reply = handler(req);
      if (reply.delay > absl::ZeroDuration()) absl::SleepFor(reply.delay);
      auto& socket = beast::get_lowest_layer(stream);
      if (reply.drop) {
        socket.shutdown(tcp::socket::shutdown_both, ec);
        return;
      }
      http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
      if (!reply.content_type.empty()) res.set(http::field::content_type, reply.content_type);
      for (const auto& [name, value] : reply.headers) res.set(name, value);
      res.body() = reply.body;
      res.prepare_payload();
      const bool keep_alive = !req.body_too_large && raw.keep_alive();
      res.keep_alive(keep_alive);
      http::write(stream, res, ec);
      if (ec || !keep_alive) {
        socket.shutdown(tcp::socket::shutdown_both, ec);
        return;
      }
    }
  }
};

absl::StatusOr<std::unique_ptr<FakeHttpServer>> FakeHttpServer::Start(Handler handler,
                                                                      Options options) {
  const std::string address = options.address;
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("bad address: ", address));
  }
  std::unique_ptr<FakeHttpServer> server(new FakeHttpServer());
  server->impl_ = std::make_unique<Impl>();
  Impl& impl = *server->impl_;
  impl.handler = std::move(handler);
  impl.options = std::move(options);
  if (impl.options.tls) {
    std::string key_pem, cert_pem;
    if (absl::Status st = MakeSelfSigned(&key_pem, &cert_pem); !st.ok()) return st;
    beast::error_code tls_ec;
    impl.ssl.use_certificate_chain(asio::buffer(cert_pem), tls_ec);
    if (!tls_ec) impl.ssl.use_private_key(asio::buffer(key_pem), asio::ssl::context::pem, tls_ec);
    if (tls_ec) {
      return absl::InternalError(absl::StrCat(impl.options.name, " TLS setup: ", tls_ec.message()));
    }
    std::string path = absl::StrCat("/tmp/iss-", impl.options.name, "-ca-XXXXXX");
    const int fd = mkstemp(path.data());
    if (fd < 0) return absl::InternalError("cannot create the CA file");
    close(fd);
    std::ofstream(path) << cert_pem;
    server->ca_file_ = path;
  }
  beast::error_code ec;
  const auto ip = asio::ip::make_address(address.substr(0, colon), ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("bad address: ", address));
  const tcp::endpoint endpoint(ip, static_cast<unsigned short>(port));
  impl.acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl.acceptor.bind(endpoint, ec);
  if (!ec) impl.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat(impl.options.name, " cannot listen on ", address, ": ", ec.message()));
  }
  server->port_ = impl.acceptor.local_endpoint().port();
  impl.thread = std::thread([&impl] { impl.Serve(); });
  return server;
}

FakeHttpServer::~FakeHttpServer() {
  if (!impl_) return;
  impl_->stopping.store(true);
  // Wake the blocking accept() with a connection of our own.
  beast::error_code ec;
  asio::io_context ioc;
  tcp::socket wake(ioc);
  wake.connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)), ec);
  impl_->thread.join();
  if (!ca_file_.empty()) std::remove(ca_file_.c_str());
}

std::string FakeHttpServer::base_url() const {
  return absl::StrCat(ca_file_.empty() ? "http" : "https", "://127.0.0.1:", port_);
}

}  // namespace iss::peebot::testing
