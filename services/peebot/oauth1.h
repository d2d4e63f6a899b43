// Owns: OAuth 1.0a request signing (RFC 5849, HMAC-SHA1 via OpenSSL), as X's
// user-context auth wants it. Used by the X client to sign and by the fake X
// server to verify, so both sides share one definition of the base string.
//
// Only the OAuth parameters and the URL's query (plus form parameters, when
// the body is form-encoded) are signed; a JSON body is not (RFC 5849 3.4.1.3).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace iss::peebot {

struct OAuthCredentials {
  std::string consumer_key;
  std::string consumer_secret;
  std::string token;
  std::string token_secret;
  bool complete() const {
    return !consumer_key.empty() && !consumer_secret.empty() && !token.empty() &&
           !token_secret.empty();
  }
};

using OAuthParams = std::vector<std::pair<std::string, std::string>>;

// RFC 3986 percent-encoding of everything but ALPHA / DIGIT / "-" "." "_" "~".
std::string PercentEncode(absl::string_view s);

// "https://api.x.com/2/tweets?a=b" -> "https://api.x.com/2/tweets" (scheme and
// host lower-cased, default port dropped, query removed) plus the decoded query.
struct BaseUri {
  std::string uri;
  OAuthParams query;
};
absl::StatusOr<BaseUri> NormalizeUrl(absl::string_view url);

// The signature base string: METHOD&enc(base uri)&enc(sorted, encoded params).
std::string SignatureBaseString(absl::string_view method, absl::string_view base_uri,
                                const OAuthParams& params);

// base64(HMAC-SHA1(enc(consumer secret)&enc(token secret), base string)).
std::string HmacSha1Signature(absl::string_view base_string, absl::string_view consumer_secret,
                              absl::string_view token_secret);

class OAuth1Signer {
 public:
  explicit OAuth1Signer(OAuthCredentials creds) : creds_(std::move(creds)) {}

  // The oauth_signature for a request. `extra` = form parameters of the body,
  // if any (the query is taken from the URL).
  absl::StatusOr<std::string> Signature(absl::string_view method, absl::string_view url,
                                        const OAuthParams& extra, absl::string_view nonce,
                                        absl::string_view timestamp) const;

  // The full `Authorization: OAuth ...` header value.
  absl::StatusOr<std::string> AuthorizationHeader(absl::string_view method, absl::string_view url,
                                                  const OAuthParams& extra, absl::string_view nonce,
                                                  absl::string_view timestamp) const;

  // Same, with a fresh random nonce (OpenSSL RAND) and the current time.
  absl::StatusOr<std::string> AuthorizationHeader(absl::string_view method, absl::string_view url,
                                                  const OAuthParams& extra = {}) const;

 private:
  OAuthParams OAuthFields(absl::string_view nonce, absl::string_view timestamp) const;
  OAuthCredentials creds_;
};

// Parses `OAuth k="v", ...` into decoded pairs. INVALID_ARGUMENT when malformed.
absl::StatusOr<std::map<std::string, std::string>> ParseAuthorizationHeader(
    absl::string_view header);

}  // namespace iss::peebot
