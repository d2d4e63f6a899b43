// Owns: one HTTP/1.1 request to a network API over a fresh connection, plain
// or TLS (OpenSSL, peer and host name verification, SNI), on Boost.Beast; and
// the base-URL rule every Pee-Bot network client shares.
//
// Every client sends credentials (OAuth header, bearer token, webhook
// signature), so plain http:// is accepted only for loopback hosts
// (127.0.0.1, localhost, ::1): test servers on this machine.
//
// What a failure says about delivery matters to exactly-once posting: a
// failure before the request was written (resolve, connect, TLS) means the
// server never saw it; a failure after (no answer, connection closed, timeout
// while waiting) means it may have acted on it. RequestMayHaveArrived() tells
// the two apart.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace iss::peebot {

struct HttpEndpoint {
  bool tls = false;
  std::string host;                // as written, IPv6 literals with their brackets
  std::string port;                // explicit or the scheme's default
  std::string path;                // the URL's path (and query), without trailing '/'
  std::string HostHeader() const;  // host[:port], port omitted when default
  std::string Origin() const;      // scheme://host:port (explicit port)
};

// Parses "http(s)://host[:port][/path][?query]". INVALID_ARGUMENT naming
// `what` (e.g. "X base URL") for a bad scheme, host or port, and for http://
// to a host that is not loopback.
absl::StatusOr<HttpEndpoint> ParseHttpEndpoint(absl::string_view url, absl::string_view what);

struct HttpRequest {
  std::string method = "POST";
  std::string target;  // path and query, sent as is
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent with Content-Length when the method is not GET
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // at most 1 MiB
};

struct HttpCallOptions {
  absl::Duration timeout = absl::Seconds(10);  // the whole exchange
  std::string ca_file;                         // extra trusted CA (PEM); system store always
  std::string what = "API";                    // names the peer in errors ("X API")
};

// Any HTTP answer is a response; transport failures are errors:
// DEADLINE_EXCEEDED on timeout, UNAVAILABLE otherwise (unreachable, TLS
// verification failed, connection closed without a complete answer).
absl::StatusOr<HttpResponse> SendHttp(const HttpEndpoint& endpoint, const HttpRequest& request,
                                      const HttpCallOptions& options);

// The integer value of a header (`headers` as in HttpResponse), if present
// and numeric.
std::optional<int64_t> IntHeader(const std::map<std::string, std::string>& headers,
                                 const std::string& lower_case_name);

// For an error from SendHttp: true when the request had been (at least
// partly) written before the failure, so the server may have acted on it.
bool RequestMayHaveArrived(const absl::Status& status);

}  // namespace iss::peebot
