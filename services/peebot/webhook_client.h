// Owns: delivering a detection to a generic webhook (POST of one JSON body)
// with Standard Webhooks signing (standardwebhooks.com, spec
// standard-webhooks/standard-webhooks): headers `webhook-id` (stable per
// detection), `webhook-timestamp` (Unix seconds of this attempt) and
// `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` (one
// entry per secret, for rotation), plus `Idempotency-Key: <webhook-id>`.
// Also the payload and the receiver's check (used by the fake receiver, and
// usable by anyone receiving our webhooks).
//
// Exactly once: the caller stores the id and the exact body bytes once and
// re-sends them on every attempt (only timestamp and signature change);
// receivers dedupe on webhook-id. Chat webhooks (Discord, Slack) neither
// verify nor dedupe: a delivery with no secret is sent unsigned, and whether
// to re-send after an unknown outcome is the caller's policy.
//
// Plain http:// only to loopback hosts (tests).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/peebot/detector.h"
#include "services/peebot/https_call.h"

namespace iss::peebot {

struct WebhookOptions {
  std::string url;  // the full endpoint, path and query included
  // "whsec_<base64 key>" (or the bare base64 key); empty = unsigned.
  std::vector<std::string> secrets;
  absl::Duration timeout = absl::Seconds(10);
  std::string ca_file;
};

struct WebhookResult {
  int http_status = 0;
  std::string body;                           // the head of the answer (200 bytes)
  std::optional<absl::Duration> retry_after;  // Retry-After in seconds, when sent
  bool ok() const { return http_status >= 200 && http_status < 300; }
  bool rate_limited() const { return http_status == 429; }
  bool gone() const { return http_status == 410; }  // disable the endpoint
};

// What the delivery logic needs from a webhook; the real client and test
// doubles implement it.
class WebhookApi {
 public:
  virtual ~WebhookApi() = default;
  // A transport failure is an error Status (https_call.h; RequestMayHaveArrived
  // says whether the outcome is unknown); any HTTP answer is a result (3xx
  // are not followed). INVALID_ARGUMENT (nothing sent) for an empty id or
  // one containing '.', or an empty body.
  virtual absl::StatusOr<WebhookResult> Deliver(const std::string& webhook_id,
                                                const std::string& body) = 0;
};

class WebhookClient final : public WebhookApi {
 public:
  // INVALID_ARGUMENT for an unusable URL (http:// to a non-loopback host
  // included) or a secret that is not base64.
  static absl::StatusOr<std::unique_ptr<WebhookClient>> Create(WebhookOptions options);
  absl::StatusOr<WebhookResult> Deliver(const std::string& webhook_id,
                                        const std::string& body) override;
  // The same, signed as of `now` (tests: the receiver's timestamp window).
  absl::StatusOr<WebhookResult> DeliverAt(const std::string& webhook_id, const std::string& body,
                                          absl::Time now);

 private:
  WebhookClient(WebhookOptions options, HttpEndpoint endpoint, std::vector<std::string> keys)
      : options_(std::move(options)), endpoint_(std::move(endpoint)), keys_(std::move(keys)) {}
  const WebhookOptions options_;
  const HttpEndpoint endpoint_;
  const std::vector<std::string> keys_;  // decoded secrets
};

// "peebot_<detection_id>" (no '.', as the signature scheme needs).
std::string WebhookId(const std::string& detection_id);

// The body for a detection, compact JSON:
// {"type":"peebot.detection","id":<webhook id>,"timestamp":<start, ms Z>,
//  "content":<text>,"text":<text>,"data":{"detection_id","item_id",
//  "start_time","end_time" (µs Z),"start_level_percent","end_level_percent",
//  "rise_percent","estimated_volume_ml" (rounded)}}. `content` is what Discord
// reads, `text` what Slack reads. Invalid UTF-8 becomes U+FFFD.
std::string WebhookPayload(const Detection& detection, const std::string& text);

// The HMAC key of a secret: base64-decoded after an optional "whsec_".
absl::StatusOr<std::string> DecodeWebhookSecret(absl::string_view secret);
// "v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>".
std::string WebhookSignature(absl::string_view key, absl::string_view webhook_id, int64_t timestamp,
                             absl::string_view body);

// The receiver's check: `timestamp` within `tolerance` of `now` (either way)
// and one of the space-separated `v1,` signatures made with one of `keys`
// (constant-time compare). UNAUTHENTICATED naming what failed.
absl::Status VerifyWebhook(const std::vector<std::string>& keys, absl::string_view webhook_id,
                           absl::string_view timestamp, absl::string_view signatures,
                           absl::string_view body, absl::Time now,
                           absl::Duration tolerance = absl::Minutes(5));

}  // namespace iss::peebot
