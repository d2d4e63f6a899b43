// Owns: a fake Bluesky PDS for tests (and the e2e suite, via
// iss-fake-social): the XRPC calls Pee-Bot makes, answered the way the
// reference PDS (bluesky-social/atproto packages/pds) answers them.
//
//   createSession   identifier (handle or DID) + password -> distinct
//                   access/refresh tokens; wrong password -> 401
//                   AuthenticationRequired; more than `session_limit` logins
//                   in 5 minutes -> 429.
//   refreshSession  no body, refresh token as bearer -> both tokens rotated;
//                   an access token there (or a refresh token used as access)
//                   -> 400 InvalidToken; revoked -> 400 ExpiredToken.
//   createRecord    access token; expired -> 400 ExpiredToken; repo must be
//                   the token's DID (401); collection app.bsky.feed.post,
//                   $type matching; text required, <= 300 graphemes and
//                   <= 3000 bytes; createdAt required; rkey must be a TID
//                   (400 InvalidRequest otherwise; none = one is chosen);
//                   an existing rkey -> 500 InternalServerError (today's PDS)
//                   or 400 RecordAlreadyExists (set_conflict_answer).
//                   Rate limit: each create costs 3 points of `points_per_hour`
//                   per account; RateLimit-* headers on every answer; 429
//                   RateLimitExceeded with Retry-After when spent.
//   getRecord       no auth: 200 {uri,cid,value}, missing -> 400 RecordNotFound.
//   GET /_fake/received (not XRPC): every stored post as JSON, for the e2e suite.
//
// Faults are scripted per call (Push): an answer instead of the real one,
// a delay, a dropped connection, and "accept then drop/fail" (the record is
// created, then the connection closes or an error is answered).
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

struct FakeBlueskyAccount {
  std::string handle = "peebot.test";
  std::string did = "did:plc:peebotfake0000000000000";
  std::string password = "app-pass-word";
};

struct FakeBlueskyPost {
  std::string did;
  std::string rkey;
  std::string uri;
  std::string cid;
  std::string text;
  std::string record_json;
};

struct FakeBlueskyState;  // fake_bluesky_server.cc

class FakeBlueskyServer : public FakeApi<FakeBlueskyState> {
 public:
  static absl::StatusOr<std::unique_ptr<FakeBlueskyServer>> Start(
      std::vector<FakeBlueskyAccount> accounts = {FakeBlueskyAccount{}},
      const std::string& address = "127.0.0.1:0", bool tls = false);
  ~FakeBlueskyServer();

  // The next call of `nsid` (e.g. "com.atproto.repo.createRecord") that
  // passes authentication gets `reply`; replies queue per call.
  void Push(const std::string& nsid, FakeReply reply);

  // Every access token issued so far is expired (400 ExpiredToken).
  void ExpireAccessTokens();
  // Every refresh token issued so far is revoked (400 ExpiredToken).
  void RevokeRefreshTokens();
  // A second create on an existing rkey: 500 (false, today) or 400
  // RecordAlreadyExists (true, after atproto PR #4728).
  void set_conflict_answer_already_exists(bool v);
  void set_points_per_hour(int points);  // default 5000
  void set_session_limit(int logins);    // per 5 minutes, default 30

  std::vector<FakeBlueskyPost> posts() const;  // all accounts, in creation order
  std::vector<FakeBlueskyPost> posts(const std::string& did) const;
  int calls(const std::string& nsid) const;                  // requests per NSID (any outcome)
  std::vector<int> statuses(const std::string& nsid) const;  // answers, in order
  std::vector<std::string> methods() const;                  // NSIDs of every request, in order

 private:
  FakeBlueskyServer() = default;
};

}  // namespace iss::peebot::testing
