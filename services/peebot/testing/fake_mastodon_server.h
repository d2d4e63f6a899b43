// Owns: a fake Mastodon instance for tests (and the e2e suite, via
// iss-fake-social), answering like mastodon/mastodon does:
//
//   POST /api/v1/statuses   Bearer token (unknown -> 401 "The access token is
//                           invalid"; without write:statuses -> 403); form or
//                           JSON body; blank status -> 422; longer than
//                           max_characters (graphemes, URL = 23, @user@domain =
//                           @user) -> 422; 200 with the Status JSON.
//                           Idempotency-Key per account, kept 1 hour, set after
//                           the status is created: a repeat answers the first
//                           status (or 500, reproducing mastodon issue #40399).
//                           Rate limit: 300 statuses per account per 3 hours
//                           (window aligned to epoch / 10800), X-RateLimit-*
//                           headers with an ISO 8601 reset; 429 "Too many
//                           requests" without Retry-After.
//   GET /api/v2/instance    configuration.statuses.{max_characters,
//                           characters_reserved_per_url}.
//   GET /_fake/received     every stored status as JSON, for the e2e suite.
//
// Scripted faults (Push) for POST /api/v1/statuses after authentication: a
// status instead of the real answer, a delay, a dropped connection, and
// "accept then drop/fail" (created, answer lost).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/peebot/testing/fake_api.h"
#include "services/peebot/testing/fake_http_server.h"

namespace iss::peebot::testing {

struct FakeMastodonAccount {
  std::string id = "109000000000000001";
  std::string username = "peebot";
  std::string token = "fake-mastodon-token";
  std::string scopes = "write:statuses";  // space-separated; "write" also allows posting
};

struct FakeMastodonStatus {
  std::string id;
  std::string account_id;
  std::string text;
  std::string visibility;
  std::string language;
  std::string idempotency_key;
  std::string url;
};

struct FakeMastodonState;  // fake_mastodon_server.cc

class FakeMastodonServer : public FakeApi<FakeMastodonState> {
 public:
  // How a repeated Idempotency-Key is answered.
  enum class Idempotency {
    kReplay,     // 200 with the first status (current Mastodon)
    kRepeat500,  // 500 although the status exists (mastodon #40399, PR #37879 .. #40439)
    kIgnored,    // a new status every time (a server without the feature)
  };

  static absl::StatusOr<std::unique_ptr<FakeMastodonServer>> Start(
      std::vector<FakeMastodonAccount> accounts = {FakeMastodonAccount{}},
      const std::string& address = "127.0.0.1:0", bool tls = false);
  ~FakeMastodonServer();

  void Push(FakeReply reply);
  void set_idempotency(Idempotency mode);
  void set_max_characters(int n);       // default 500
  void set_characters_per_url(int n);   // default 23
  void set_statuses_per_window(int n);  // default 300 per 3 hours
  // Forget every stored Idempotency-Key (as if the hour passed).
  void ExpireIdempotencyKeys();

  std::vector<FakeMastodonStatus> statuses() const;  // all accounts, in order
  std::vector<FakeMastodonStatus> statuses(const std::string& account_id) const;
  int requests() const;                     // POST /api/v1/statuses seen
  std::vector<int> answers() const;         // their answers in order (0 = dropped)
  std::vector<std::string> bodies() const;  // their raw bodies in order

 private:
  FakeMastodonServer() = default;
};

}  // namespace iss::peebot::testing
