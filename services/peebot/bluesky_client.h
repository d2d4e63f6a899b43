// Owns: posting to Bluesky (AT Protocol XRPC over HTTP(S), https_call.h):
// the app-password session (com.atproto.server.createSession ->
// accessJwt/refreshJwt/did), kept between posts and renewed with
// refreshSession when the PDS says the access token expired (401, or 400
// ExpiredToken as the reference PDS answers), a fresh login when the refresh
// token is refused; createRecord with the caller's record key; getRecord to
// find out whether a post with an unknown outcome exists. It reports what the
// PDS answered; deciding what an answer means (retry, wait, give up, check
// getRecord) is the caller's job.
//
// Exactly once: the caller picks the record key (tid.h DetectionRecordKey)
// and the record bytes once, stores them, and sends the same ones on every
// attempt. The PDS refuses a second record under the same key (today with
// 500 InternalServerError, after atproto PR #4728 with 400
// RecordAlreadyExists), and getRecord(rkey) tells whether the first landed.
// A session refresh never changes the key or the record.
//
// The PDS base URL is configurable (https://bsky.social by default). Plain
// http:// only to loopback hosts (tests). getRecord goes to the same base URL
// (for accounts hosted behind the bsky.social entryway that is its proxy).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/peebot/https_call.h"

namespace iss::peebot {

inline constexpr char kBlueskyPostCollection[] = "app.bsky.feed.post";
inline constexpr char kXrpcCreateSession[] = "com.atproto.server.createSession";
inline constexpr char kXrpcRefreshSession[] = "com.atproto.server.refreshSession";
inline constexpr char kXrpcCreateRecord[] = "com.atproto.repo.createRecord";
inline constexpr char kXrpcGetRecord[] = "com.atproto.repo.getRecord";

struct BlueskyOptions {
  std::string pds_url = "https://bsky.social";
  std::string identifier;                      // handle, e-mail or DID
  std::string app_password;                    // an app password, not the account password
  absl::Duration timeout = absl::Seconds(10);  // per HTTP call
  std::string ca_file;                         // extra CA for TLS
};

// The RateLimit-* headers (sent on successes too) and Retry-After.
struct BlueskyRateLimit {
  std::optional<int64_t> limit;
  std::optional<int64_t> remaining;           // points; a create costs 3
  std::optional<absl::Time> reset;            // RateLimit-Reset, Unix seconds
  std::optional<absl::Duration> retry_after;  // on 429, newer PDSes only
  std::string policy;                         // e.g. "5000;w=3600"
};

// One XRPC answer. Any HTTP answer is a result; ok() only for a 2xx with
// the fields the call must return.
struct BlueskyResult {
  std::string call;  // the NSID that answered: a failed login answers as createSession
  int http_status = 0;
  std::string error;    // XRPC error name (ExpiredToken, RecordNotFound, InvalidRequest,
                        // RateLimitExceeded, InternalServerError, ...); "InvalidResponse"
                        // for a 2xx that lacks required fields
  std::string message;  // XRPC message, or the head of a non-JSON body
  BlueskyRateLimit rate_limit;
  std::string uri;  // createRecord / getRecord: at://<did>/app.bsky.feed.post/<rkey>
  std::string cid;  // createRecord / getRecord (optional there)
  // getRecord 200: the stored record's text and the record as JSON.
  std::string record_text;
  std::string record_json;

  bool ok() const { return http_status >= 200 && http_status < 300 && error.empty(); }
  bool record_not_found() const { return http_status == 400 && error == "RecordNotFound"; }
  bool rate_limited() const { return http_status == 429; }
  // The access token is no good any more (what the official client refreshes on).
  bool token_expired() const {
    return http_status == 401 || (http_status == 400 && error == "ExpiredToken");
  }
};

struct BlueskySession {
  std::string did;
  std::string handle;
  std::string access_jwt;
  std::string refresh_jwt;
};

// What the delivery logic needs from Bluesky; the real client and test
// doubles implement it.
class BlueskyApi {
 public:
  virtual ~BlueskyApi() = default;
  // createRecord(repo = the session's DID, collection app.bsky.feed.post,
  // rkey, record = `record_json` byte for byte). A transport failure is an
  // error Status (https_call.h: UNAVAILABLE / DEADLINE_EXCEEDED;
  // RequestMayHaveArrived says whether the outcome is unknown); any HTTP
  // answer is a result. INVALID_ARGUMENT (nothing sent) for an rkey that is
  // not a TID or a record that is not a JSON object.
  virtual absl::StatusOr<BlueskyResult> CreatePost(const std::string& rkey,
                                                   const std::string& record_json) = 0;
  // getRecord(repo = the session's DID, app.bsky.feed.post, rkey): 200 with
  // record_text = the post exists; record_not_found() = it does not.
  virtual absl::StatusOr<BlueskyResult> GetPost(const std::string& rkey) = 0;
};

class BlueskyClient final : public BlueskyApi {
 public:
  // INVALID_ARGUMENT for an unusable PDS URL (http:// to a non-loopback host
  // included) or missing identifier/app password.
  static absl::StatusOr<std::unique_ptr<BlueskyClient>> Create(BlueskyOptions options);

  // Both log in first when there is no session (createSession's answer is
  // returned when that fails), and refresh once (or log in again when the
  // refresh token is refused) when the access token expired.
  absl::StatusOr<BlueskyResult> CreatePost(const std::string& rkey,
                                           const std::string& record_json) override;
  absl::StatusOr<BlueskyResult> GetPost(const std::string& rkey) override;

  // createSession now (e.g. at start, to report bad credentials early).
  absl::StatusOr<BlueskyResult> Login();
  std::optional<BlueskySession> session() const;
  int logins() const;     // createSession calls answered 200
  int refreshes() const;  // refreshSession calls answered 200

 private:
  BlueskyClient(BlueskyOptions options, HttpEndpoint endpoint)
      : options_(std::move(options)), endpoint_(std::move(endpoint)) {}
  // One XRPC call; for a session call's 200, `tokens` receives the session.
  absl::StatusOr<BlueskyResult> Call(const std::string& nsid, const std::string& method,
                                     const std::string& query, const std::string& body,
                                     const std::string& bearer,
                                     std::optional<BlueskySession>* tokens = nullptr);
  // createSession / refreshSession; a 200 replaces the session.
  absl::StatusOr<BlueskyResult> SessionCall(const std::string& nsid, const std::string& body,
                                            const std::string& bearer, int* counter)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<BlueskyResult> LoginLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const BlueskyOptions options_;
  const HttpEndpoint endpoint_;
  // Held for a whole call, refreshes included: posting is rare, and one
  // refresh at a time keeps the rotated refresh token consistent.
  mutable absl::Mutex mu_;
  std::optional<BlueskySession> session_ ABSL_GUARDED_BY(mu_);
  int logins_ ABSL_GUARDED_BY(mu_) = 0;
  int refreshes_ ABSL_GUARDED_BY(mu_) = 0;
};

// An app.bsky.feed.post record as compact JSON:
// {"$type":"app.bsky.feed.post","text":…,"createdAt":"…Z","langs":[…]}.
// `created_at` should be the time of the first send (fixed, stored): the
// AppView sorts by min(indexedAt, createdAt), so an old event time would sink
// the post in timelines. Invalid UTF-8 in `text` is replaced by U+FFFD.
std::string BlueskyPostRecord(const std::string& text, absl::Time created_at,
                              const std::vector<std::string>& langs = {"en"});
// Lexicon datetime: RFC 3339 UTC with milliseconds, "2026-09-10T12:34:56.789Z".
std::string BlueskyDatetime(absl::Time t);
std::string BlueskyPostUri(const std::string& did, const std::string& rkey);  // at://…
// The post's page on bsky.app (a convention, not part of the protocol).
std::string BlueskyPostWebUrl(const std::string& handle_or_did, const std::string& rkey);

// Parses one XRPC answer (status, headers with lower-case names, body).
BlueskyResult InterpretBlueskyResponse(const std::string& call, int http_status,
                                       const std::map<std::string, std::string>& headers,
                                       const std::string& body);

}  // namespace iss::peebot
