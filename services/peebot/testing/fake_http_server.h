// Owns: the transport under every fake network API of Pee-Bot's tests (X,
// Bluesky PDS, Mastodon, webhook receiver): a real HTTP/1.1 server on a
// loopback socket, plain or TLS with a fresh self-signed certificate, that
// hands each request to the fake's handler and carries out what the handler
// asks: answer, answer late, or close the connection without answering (the
// request was processed but the answer is lost).
//
// Connections are served one at a time, in arrival order (so a scripted
// sequence of replies meets requests in a known order); keep-alive is honoured.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace iss::peebot::testing {

struct FakeHttpRequest {
  std::string method;                          // "POST", "GET", ...
  std::string target;                          // as sent
  std::string path;                            // target without the query
  std::map<std::string, std::string> query;    // decoded (%XX, '+')
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  bool body_too_large = false;  // the body passed the limit; `body` is empty
  std::string Header(const std::string& lower_case_name) const;
};

struct FakeHttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type = "application/json; charset=utf-8";
  std::string body;
  absl::Duration delay = absl::ZeroDuration();  // before answering (or dropping)
  bool drop = false;                            // close the connection without an answer

  static FakeHttpResponse Json(int status, const nlohmann::json& body);
  static FakeHttpResponse Text(int status, std::string body,
                               std::string content_type = "text/plain; charset=utf-8");
  static FakeHttpResponse Drop();
};

// A scripted reply for one request to a fake network API, consumed after the
// request passed the fake's authentication. With neither `status` nor `drop`
// the fake answers normally, after `delay`.
struct FakeReply {
  int status = 0;  // else this status instead of the real answer
  absl::Duration delay = absl::ZeroDuration();
  bool drop = false;           // close the connection instead of answering
  bool accept_anyway = false;  // do the work (create the post), then answer `status` / drop
  bool html = false;           // an HTML error page, as a proxy sends
  std::optional<absl::Time> rate_limit_reset;  // 429: the network's reset header
  std::optional<int> retry_after_seconds;      // Retry-After, where the network sends it

  bool replaces() const { return drop || status != 0; }

  // A replacing reply's answer where the transport decides it: a dropped
  // connection, or with `html` a proxy's error page `html_page`; after
  // `delay`. nullopt: the network's own error answer for `status` is due.
  std::optional<FakeHttpResponse> TransportAnswer(const std::string& html_page) const;

  static FakeReply With(int status) {
    FakeReply r;
    r.status = status;
    return r;
  }
  static FakeReply ServerError(int status = 503) { return With(status); }
  static FakeReply RateLimited(absl::Time reset) {
    FakeReply r = With(429);
    r.rate_limit_reset = reset;
    return r;
  }
  static FakeReply RateLimitedFor(int retry_after_seconds) {
    FakeReply r = With(429);
    r.retry_after_seconds = retry_after_seconds;
    return r;
  }
  static FakeReply Drop() {
    FakeReply r;
    r.drop = true;
    return r;
  }
  static FakeReply AcceptThenDrop() {
    FakeReply r = Drop();
    r.accept_anyway = true;
    return r;
  }
  static FakeReply Late(absl::Duration delay) {
    FakeReply r;
    r.delay = delay;
    return r;
  }
};

class FakeHttpServer {
 public:
  using Handler = std::function<FakeHttpResponse(const FakeHttpRequest&)>;
  struct Options {
    std::string address = "127.0.0.1:0";  // port 0 = ephemeral
    bool tls = false;                     // HTTPS, certificate for 127.0.0.1
    size_t max_body = 64 * 1024;
    std::string name = "fake";  // in error messages and the CA file name
  };

  // Binds and serves on a thread until destroyed. The handler runs on that
  // thread, one request at a time.
  static absl::StatusOr<std::unique_ptr<FakeHttpServer>> Start(Handler handler, Options options);
  ~FakeHttpServer();  // stops and joins

  int port() const { return port_; }
  bool tls() const { return !ca_file_.empty(); }
  std::string base_url() const;                            // http(s)://127.0.0.1:<port>
  const std::string& ca_file() const { return ca_file_; }  // PEM; empty without TLS

 private:
  struct Impl;
  FakeHttpServer() = default;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::string ca_file_;
};

// Decodes application/x-www-form-urlencoded text (also a URL's query).
std::map<std::string, std::string> DecodeForm(const std::string& text);

}  // namespace iss::peebot::testing
