// Owns: one call of X API v2 `POST /2/tweets` over HTTP(S) with OAuth 1.0a
// user-context signing (Boost.Beast; TLS via OpenSSL with peer and host name
// verification). It reports what X answered; deciding what an answer means
// (retry, wait, give up) is the Poster's job.
//
// The base URL is configurable (https://api.x.com by default) so tests point
// it at the fake X server (plain http://127.0.0.1:PORT). Plain http:// is
// accepted only for loopback hosts (127.0.0.1, localhost, ::1): anywhere else
// the OAuth Authorization header would cross the network in clear text. The
// transport and that rule are https_call.h, shared with the other networks.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/peebot/https_call.h"
#include "services/peebot/oauth1.h"

namespace iss::peebot {

struct XPostResult {
  int http_status = 0;
  std::string post_id;  // data.id on 201
  std::string detail;   // X's "detail" (or "title") on errors, else the raw body head
  // x-rate-limit-reset (Unix seconds), when sent.
  std::optional<absl::Time> rate_limit_reset;
  bool duplicate = false;  // 403 "duplicate content"
};

// What the Poster needs from X; the real client and test doubles implement it.
class XApi {
 public:
  virtual ~XApi() = default;
  // A transport failure (connect, TLS, timeout) is an error Status
  // (UNAVAILABLE / DEADLINE_EXCEEDED); any HTTP answer is a result.
  virtual absl::StatusOr<XPostResult> CreatePost(const std::string& text) = 0;
};

struct XClientOptions {
  std::string base_url = "https://api.x.com";
  OAuthCredentials credentials;
  absl::Duration timeout = absl::Seconds(10);
  // Extra CA file for TLS (the system store is always used).
  std::string ca_file;
};

class XClient final : public XApi {
 public:
  // INVALID_ARGUMENT for an unusable base URL, including http:// to a host
  // that is not loopback.
  static absl::StatusOr<std::unique_ptr<XClient>> Create(XClientOptions options);
  absl::StatusOr<XPostResult> CreatePost(const std::string& text) override;

 private:
  XClient(XClientOptions options, HttpEndpoint target)
      : options_(std::move(options)), target_(std::move(target)), signer_(options_.credentials) {}
  XClientOptions options_;
  HttpEndpoint target_;
  OAuth1Signer signer_;
};

// Parses an X API answer (status, headers with lower-case names, body).
XPostResult InterpretXResponse(int http_status, const std::map<std::string, std::string>& headers,
                               const std::string& body);

}  // namespace iss::peebot
