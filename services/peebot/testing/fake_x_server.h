// Owns: a fake X API for tests (and the e2e suite, via `iss-fake-x`): a real
// HTTP server on Boost.Beast that speaks `POST /2/tweets` the way X does.
//
// It verifies every request's OAuth 1.0a signature with the consumer/token
// secrets it was given (wrong key, token or signature, or a reused nonce ->
// 401), then answers from a script of replies pushed by the test; with an
// empty script it behaves like X: 201 with a new id, or 403 "duplicate
// content" when the same text was already posted. Bodies over 64 KiB -> 413,
// bad JSON or no text -> 400, other paths 404, other methods 405.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/peebot/oauth1.h"
#include "services/peebot/testing/fake_api.h"
#include "services/peebot/testing/fake_http_server.h"

namespace iss::peebot::testing {

struct FakeXReply {
  int status = 201;
  std::optional<absl::Time> rate_limit_reset;  // sent as x-rate-limit-reset on 429
  // Delay before answering (to trigger the client's timeout).
  absl::Duration delay = absl::ZeroDuration();
  // Record the text as posted even though the reply is an error (the post went
  // through but the answer was lost).
  bool accept_anyway = false;

  static FakeXReply Created() { return {}; }
  static FakeXReply ServerError(int status = 503) { return With(status); }
  static FakeXReply RateLimited(absl::Time reset) {
    FakeXReply r = With(429);
    r.rate_limit_reset = reset;
    return r;
  }
  static FakeXReply Duplicate() { return With(403); }
  static FakeXReply With(int status) {
    FakeXReply r;
    r.status = status;
    return r;
  }
};

struct FakeXPost {
  std::string id;
  std::string text;
};

struct FakeXState;  // fake_x_server.cc

class FakeXServer : public FakeApi<FakeXState> {
 public:
  // Binds `address` ("127.0.0.1:0" = ephemeral port) and serves on a thread.
  // With `tls`, HTTPS with a fresh self-signed certificate for 127.0.0.1,
  // written to ca_file() for the client to trust.
  static absl::StatusOr<std::unique_ptr<FakeXServer>> Start(
      OAuthCredentials credentials, const std::string& address = "127.0.0.1:0", bool tls = false);
  ~FakeXServer();  // stops and joins

  // Replies for the next requests that pass authentication, in order.
  void Push(FakeXReply reply);

  std::vector<FakeXPost> posts() const;  // accepted (201, or accept_anyway)
  int requests() const;                  // every request seen
  int rejected_auth() const;             // 401s
  std::vector<int> statuses() const;     // status of every answer, in order

 private:
  FakeXServer() = default;
};

}  // namespace iss::peebot::testing
