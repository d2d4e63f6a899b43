// Owns: posting to a Mastodon instance over HTTP(S) (https_call.h):
// POST /api/v1/statuses with the account's bearer token (scope
// write:statuses) and an Idempotency-Key, and GET /api/v2/instance for the
// instance's own length rules. It reports what the instance answered;
// deciding what an answer means is the caller's job.
//
// Exactly once: Mastodon remembers an Idempotency-Key per account for one
// hour, set after the status is created, and answers a repeat with the
// original status (200, same id). The caller derives the key from the
// detection (MastodonIdempotencyKey) and re-sends the same key and body. Known
// gaps the caller must allow for (research notes §2.2, §4): servers before
// mastodon PR #37879 create a duplicate when the repeat arrives while the
// first request is still being processed (wait 30-60 s before a re-send);
// servers between #37879 and #40439 answer the repeat with 500 although the
// status exists; after the hour the key is forgotten.
//
// Plain http:// only to loopback hosts (tests).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/peebot/https_call.h"

namespace iss::peebot {

struct MastodonOptions {
  std::string instance_url;  // e.g. https://mastodon.social
  std::string access_token;  // user token with write:statuses
  absl::Duration timeout = absl::Seconds(10);
  std::string ca_file;
};

struct MastodonStatusRequest {
  std::string text;
  std::string visibility = "public";  // public, unlisted, private, direct
  std::string language;               // ISO 639-1 ("en"); empty = not sent
  std::string idempotency_key;        // required; the same on every attempt
};

// X-RateLimit-* headers, when sent (Mastodon sends no Retry-After).
struct MastodonRateLimit {
  std::optional<int64_t> limit;
  std::optional<int64_t> remaining;
  std::optional<absl::Time> reset;  // X-RateLimit-Reset, ISO 8601
};

struct MastodonResult {
  int http_status = 0;
  // 200: the status (also for an idempotent repeat: the original one).
  std::string status_id;
  std::string url;  // may be empty: Mastodon's `url` is nullable
  std::string uri;
  std::string created_at;
  // Errors: Mastodon's `error` text, or the head of a non-JSON body; for a
  // 200 without an id, "invalid response: …".
  std::string error;
  MastodonRateLimit rate_limit;

  bool ok() const { return http_status >= 200 && http_status < 300 && !status_id.empty(); }
  bool rate_limited() const { return http_status == 429; }
};

// The instance's length rules (configuration.statuses).
struct MastodonInstanceLimits {
  size_t max_characters = 500;
  size_t characters_reserved_per_url = 23;
};

// What the delivery logic needs from Mastodon; the real client and test
// doubles implement it.
class MastodonApi {
 public:
  virtual ~MastodonApi() = default;
  // A transport failure is an error Status (https_call.h: UNAVAILABLE /
  // DEADLINE_EXCEEDED; RequestMayHaveArrived says whether the outcome is
  // unknown); any HTTP answer is a result. INVALID_ARGUMENT (nothing sent) for
  // empty text, a missing idempotency key or an unknown visibility.
  virtual absl::StatusOr<MastodonResult> PostStatus(const MastodonStatusRequest& request) = 0;
};

class MastodonClient final : public MastodonApi {
 public:
  // INVALID_ARGUMENT for an unusable instance URL (http:// to a non-loopback
  // host included) or an empty token.
  static absl::StatusOr<std::unique_ptr<MastodonClient>> Create(MastodonOptions options);
  absl::StatusOr<MastodonResult> PostStatus(const MastodonStatusRequest& request) override;
  // GET /api/v2/instance (no token needed). UNAVAILABLE for a non-200 or an
  // answer without configuration.statuses.max_characters.
  absl::StatusOr<MastodonInstanceLimits> GetInstanceLimits();

 private:
  MastodonClient(MastodonOptions options, HttpEndpoint endpoint)
      : options_(std::move(options)), endpoint_(std::move(endpoint)) {}
  const MastodonOptions options_;
  const HttpEndpoint endpoint_;
};

// "peebot-<detection_id>": stable per detection, so every attempt for it
// carries the same key.
std::string MastodonIdempotencyKey(const std::string& detection_id);
// The JSON body of POST /api/v1/statuses (the same bytes on every attempt).
std::string MastodonStatusBody(const MastodonStatusRequest& request);
// Parses an answer of POST /api/v1/statuses (headers with lower-case names).
MastodonResult InterpretMastodonResponse(int http_status,
                                         const std::map<std::string, std::string>& headers,
                                         const std::string& body);

}  // namespace iss::peebot
