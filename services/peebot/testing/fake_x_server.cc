#include "services/peebot/testing/fake_x_server.h"

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
#include <set>
#include <thread>
#include <utility>  // before Asio (Boost 1.74 + g++ 12)

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace iss::peebot::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr size_t kMaxBody = 64 * 1024;

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

}  // namespace

struct FakeXServer::Impl {
  OAuthCredentials creds;
  bool tls = false;
  asio::ssl::context ssl{asio::ssl::context::tls_server};
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::thread thread;
  std::atomic<bool> stopping{false};

  mutable absl::Mutex mu;
  std::deque<FakeXReply> script ABSL_GUARDED_BY(mu);
  std::vector<FakeXPost> posts ABSL_GUARDED_BY(mu);
  std::set<std::string> nonces ABSL_GUARDED_BY(mu);
  std::vector<int> statuses ABSL_GUARDED_BY(mu);
  int requests ABSL_GUARDED_BY(mu) = 0;
  int rejected_auth ABSL_GUARDED_BY(mu) = 0;
  int64_t next_id ABSL_GUARDED_BY(mu) = 1850000000000000000;

  void Serve() {
    while (!stopping.load()) {
      beast::error_code ec;
      tcp::socket socket(ioc);
      acceptor.accept(socket, ec);
      if (ec || stopping.load()) continue;
      // A stuck client must not wedge the server: bounded blocking reads.
      timeval tv{5, 0};
      setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      if (!tls) {
        HandleConnection(socket);
        continue;
      }
      asio::ssl::stream<tcp::socket&> stream(socket, ssl);
      stream.handshake(asio::ssl::stream_base::server, ec);
      if (!ec) HandleConnection(stream);
    }
  }

  template <typename Stream>
  void HandleConnection(Stream& socket) {
    beast::flat_buffer buffer;
    for (;;) {
      beast::error_code ec;
      http::request_parser<http::string_body> parser;
      parser.body_limit(kMaxBody);
      http::read(socket, buffer, parser, ec);
      http::response<http::string_body> res;
      if (ec == http::error::body_limit) {
        res = Json(413, {{"title", "Payload Too Large"}, {"status", 413}});
        Record(413);
        http::write(socket, res, ec);
        return;
      }
      if (ec) return;  // closed, timed out, or not HTTP
      const auto& req = parser.get();
      FakeXReply reply;
      res = Handle(req, &reply);
      if (reply.delay > absl::ZeroDuration()) absl::SleepFor(reply.delay);
      res.keep_alive(req.keep_alive());
      http::write(socket, res, ec);
      if (ec || !req.keep_alive()) {
        beast::get_lowest_layer(socket).shutdown(tcp::socket::shutdown_both, ec);
        return;
      }
    }
  }

  static http::response<http::string_body> Json(int status, const nlohmann::json& body) {
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, "application/json; charset=utf-8");
    res.body() = body.dump();
    res.prepare_payload();
    return res;
  }

  void Record(int status) {
    absl::MutexLock lock(&mu);
    statuses.push_back(status);
  }

  http::response<http::string_body> Handle(const http::request<http::string_body>& req,
                                           FakeXReply* reply_out) {
    {
      absl::MutexLock lock(&mu);
      ++requests;
    }
    const std::string target(req.target());
    if (target != "/2/tweets") {
      Record(404);
      return Json(404, {{"title", "Not Found"}, {"status", 404}});
    }
    if (req.method() != http::verb::post) {
      Record(405);
      return Json(405, {{"title", "Method Not Allowed"}, {"status", 405}});
    }
    if (absl::Status auth = CheckAuth(req); !auth.ok()) {
      absl::MutexLock lock(&mu);
      ++rejected_auth;
      statuses.push_back(401);
      return Json(
          401,
          {{"title", "Unauthorized"}, {"status", 401}, {"detail", std::string(auth.message())}});
    }
    const nlohmann::json body = nlohmann::json::parse(req.body(), nullptr, false);
    if (!body.is_object() || !body.contains("text") || !body["text"].is_string()) {
      Record(400);
      return Json(400, {{"title", "Invalid Request"},
                        {"status", 400},
                        {"detail", "body must be a JSON object with a string 'text'"}});
    }
    const std::string text = body["text"].get<std::string>();

    absl::MutexLock lock(&mu);
    FakeXReply reply;
    if (!script.empty()) {
      reply = script.front();
      script.pop_front();
    }
    *reply_out = reply;
    bool seen = false;
    for (const FakeXPost& p : posts) seen = seen || p.text == text;
    if (reply.status == 201 && seen) reply.status = 403;  // X refuses duplicate content
    statuses.push_back(reply.status);
    if (reply.status == 201 || reply.accept_anyway) {
      if (!seen) posts.push_back({absl::StrCat(next_id++), text});
    }
    if (reply.status == 201) {
      return Json(201, {{"data", {{"id", posts.back().id}, {"text", text}}}});
    }
    if (reply.status == 429) {
      auto res = Json(
          429, {{"title", "Too Many Requests"}, {"detail", "Too Many Requests"}, {"status", 429}});
      if (reply.rate_limit_reset) {
        res.set("x-rate-limit-reset", absl::StrCat(absl::ToUnixSeconds(*reply.rate_limit_reset)));
        res.set("x-rate-limit-remaining", "0");
      }
      return res;
    }
    if (reply.status == 403) {
      return Json(403, {{"detail", "You are not allowed to create a Tweet with duplicate content."},
                        {"title", "Forbidden"},
                        {"status", 403},
                        {"type", "about:blank"}});
    }
    return Json(reply.status, {{"title", "Service Unavailable"}, {"status", reply.status}});
  }

  absl::Status CheckAuth(const http::request<http::string_body>& req) {
    auto it = req.find(http::field::authorization);
    if (it == req.end()) return absl::UnauthenticatedError("no Authorization header");
    auto fields = ParseAuthorizationHeader(std::string(it->value()));
    if (!fields.ok()) return fields.status();
    for (const char* k : {"oauth_consumer_key", "oauth_nonce", "oauth_signature",
                          "oauth_signature_method", "oauth_timestamp", "oauth_token"}) {
      if (!fields->count(k)) return absl::UnauthenticatedError(absl::StrCat("missing ", k));
    }
    if (fields->at("oauth_signature_method") != "HMAC-SHA1") {
      return absl::UnauthenticatedError("unsupported signature method");
    }
    if (fields->at("oauth_consumer_key") != creds.consumer_key) {
      return absl::UnauthenticatedError("unknown consumer key");
    }
    if (fields->at("oauth_token") != creds.token) {
      return absl::UnauthenticatedError("unknown token");
    }
    int64_t ts = 0;
    if (!absl::SimpleAtoi(fields->at("oauth_timestamp"), &ts) ||
        absl::AbsDuration(absl::FromUnixSeconds(ts) - absl::Now()) > absl::Minutes(5)) {
      return absl::UnauthenticatedError("timestamp out of range");
    }
    auto host = req.find(http::field::host);
    if (host == req.end()) return absl::UnauthenticatedError("no Host header");
    const std::string url = absl::StrCat(tls ? "https://" : "http://", std::string(host->value()),
                                         std::string(req.target()));
    auto expected = OAuth1Signer(creds).Signature("POST", url, {}, fields->at("oauth_nonce"),
                                                  fields->at("oauth_timestamp"));
    if (!expected.ok()) return expected.status();
    if (*expected != fields->at("oauth_signature")) {
      return absl::UnauthenticatedError("signature mismatch");
    }
    absl::MutexLock lock(&mu);
    if (!nonces.insert(fields->at("oauth_nonce")).second) {
      return absl::UnauthenticatedError("nonce reused");
    }
    return absl::OkStatus();
  }
};

absl::StatusOr<std::unique_ptr<FakeXServer>> FakeXServer::Start(OAuthCredentials credentials,
                                                                const std::string& address,
                                                                bool tls) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("bad address: ", address));
  }
  std::unique_ptr<FakeXServer> server(new FakeXServer());
  server->impl_ = std::make_unique<Impl>();
  Impl& impl = *server->impl_;
  impl.creds = std::move(credentials);
  impl.tls = tls;
  if (tls) {
    std::string key_pem, cert_pem;
    if (absl::Status st = MakeSelfSigned(&key_pem, &cert_pem); !st.ok()) return st;
    beast::error_code tls_ec;
    impl.ssl.use_certificate_chain(asio::buffer(cert_pem), tls_ec);
    if (!tls_ec) impl.ssl.use_private_key(asio::buffer(key_pem), asio::ssl::context::pem, tls_ec);
    if (tls_ec) return absl::InternalError(absl::StrCat("fake X TLS setup: ", tls_ec.message()));
    char path[] = "/tmp/iss-fake-x-ca-XXXXXX";
    const int fd = mkstemp(path);
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
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("fake X cannot listen on ", address, ": ", ec.message()));
  server->port_ = impl.acceptor.local_endpoint().port();
  impl.thread = std::thread([&impl] { impl.Serve(); });
  return server;
}

FakeXServer::~FakeXServer() {
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

std::string FakeXServer::base_url() const {
  return absl::StrCat(ca_file_.empty() ? "http" : "https", "://127.0.0.1:", port_);
}

void FakeXServer::Push(FakeXReply reply) {
  absl::MutexLock lock(&impl_->mu);
  impl_->script.push_back(reply);
}

std::vector<FakeXPost> FakeXServer::posts() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->posts;
}

int FakeXServer::requests() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->requests;
}

int FakeXServer::rejected_auth() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->rejected_auth;
}

std::vector<int> FakeXServer::statuses() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->statuses;
}

}  // namespace iss::peebot::testing
