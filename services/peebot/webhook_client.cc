#include "services/peebot/webhook_client.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cmath>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "services/peebot/json_fields.h"

namespace iss::peebot {

std::string WebhookId(const std::string& detection_id) {
  return absl::StrCat("peebot_", detection_id);
}

std::string WebhookPayload(const Detection& d, const std::string& text) {
  auto time = [](absl::Time t, const char* seconds) {
    return absl::FormatTime(absl::StrCat("%Y-%m-%dT%H:%M:", seconds, "Z"), t, absl::UTCTimeZone());
  };
  // Ordered: the documented field order, and one serialization for every attempt.
  nlohmann::ordered_json body = {
      {"type", "peebot.detection"},
      {"id", WebhookId(d.detection_id)},
      {"timestamp", time(d.start_time, "%E3S")},
      {"content", text},
      {"text", text},
      {"data",
       {{"detection_id", d.detection_id},
        {"item_id", d.item_id},
        {"start_time", time(d.start_time, "%E6S")},
        {"end_time", time(d.end_time, "%E6S")},
        {"start_level_percent", d.start_level},
        {"end_level_percent", d.end_level},
        {"rise_percent", d.rise},
        {"estimated_volume_ml", static_cast<int64_t>(std::llround(d.volume_ml))}}}};
  return JsonDump(body);
}

absl::StatusOr<std::string> DecodeWebhookSecret(absl::string_view secret) {
  absl::string_view b64 = secret;
  absl::ConsumePrefix(&b64, "whsec_");
  std::string key;
  if (b64.empty() || !absl::Base64Unescape(b64, &key) || key.empty()) {
    return absl::InvalidArgumentError(
        "webhook secret must be \"whsec_\" followed by the base64 of the key");
  }
  return key;
}

std::string WebhookSignature(absl::string_view key, absl::string_view webhook_id, int64_t timestamp,
                             absl::string_view body) {
  const std::string signed_content = absl::StrCat(webhook_id, ".", timestamp, ".", body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(signed_content.data()), signed_content.size(), mac,
       &mac_len);
  return absl::StrCat(
      "v1,", absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(mac), mac_len)));
}

absl::Status VerifyWebhook(const std::vector<std::string>& keys, absl::string_view webhook_id,
                           absl::string_view timestamp, absl::string_view signatures,
                           absl::string_view body, absl::Time now, absl::Duration tolerance) {
  if (webhook_id.empty()) return absl::UnauthenticatedError("no webhook-id");
  int64_t ts = 0;
  if (!absl::SimpleAtoi(timestamp, &ts)) {
    return absl::UnauthenticatedError(absl::StrCat("bad webhook-timestamp \"", timestamp, "\""));
  }
  if (absl::AbsDuration(absl::FromUnixSeconds(ts) - now) > tolerance) {
    return absl::UnauthenticatedError(absl::StrCat("webhook-timestamp ", ts,
                                                   " is outside the tolerance of ",
                                                   absl::FormatDuration(tolerance)));
  }
  for (const std::string& key : keys) {
    const std::string expected = WebhookSignature(key, webhook_id, ts, body);
    for (absl::string_view sig : absl::StrSplit(signatures, ' ', absl::SkipEmpty())) {
      if (sig.size() == expected.size() &&
          CRYPTO_memcmp(sig.data(), expected.data(), expected.size()) == 0) {
        return absl::OkStatus();
      }
    }
  }
  return absl::UnauthenticatedError("no matching webhook-signature");
}

absl::StatusOr<std::unique_ptr<WebhookClient>> WebhookClient::Create(WebhookOptions options) {
  auto endpoint = ParseHttpEndpoint(options.url, "webhook URL");
  if (!endpoint.ok()) return endpoint.status();
  std::vector<std::string> keys;
  for (const std::string& secret : options.secrets) {
    auto key = DecodeWebhookSecret(secret);
    if (!key.ok()) return key.status();
    keys.push_back(*std::move(key));
  }
  return std::unique_ptr<WebhookClient>(
      new WebhookClient(std::move(options), *std::move(endpoint), std::move(keys)));
}

absl::StatusOr<WebhookResult> WebhookClient::Deliver(const std::string& webhook_id,
                                                     const std::string& body) {
  return DeliverAt(webhook_id, body, absl::Now());
}

absl::StatusOr<WebhookResult> WebhookClient::DeliverAt(const std::string& webhook_id,
                                                       const std::string& body, absl::Time now) {
  if (webhook_id.empty() || webhook_id.find('.') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("webhook_id must be non-empty and without '.': \"", webhook_id, "\""));
  }
  if (body.empty()) return absl::InvalidArgumentError("webhook body is empty");
  const int64_t ts = absl::ToUnixSeconds(now);
  HttpRequest req;
  req.target = endpoint_.path.empty() ? "/" : endpoint_.path;
  req.headers = {{"Content-Type", "application/json"},
                 {"webhook-id", webhook_id},
                 {"webhook-timestamp", absl::StrCat(ts)},
                 {"Idempotency-Key", webhook_id}};
  if (!keys_.empty()) {
    std::vector<std::string> sigs;
    for (const std::string& key : keys_)
      sigs.push_back(WebhookSignature(key, webhook_id, ts, body));
    req.headers.emplace_back("webhook-signature", absl::StrJoin(sigs, " "));
  }
  req.body = body;
  auto res = SendHttp(endpoint_, req, {options_.timeout, options_.ca_file, "webhook"});
  if (!res.ok()) return res.status();
  WebhookResult r;
  r.http_status = res->status;
  r.body = res->body.substr(0, 200);
  if (auto it = res->headers.find("retry-after"); it != res->headers.end()) {
    double seconds = 0;
    if (absl::SimpleAtod(it->second, &seconds) && seconds >= 0) {
      r.retry_after = absl::Seconds(seconds);
    }
  }
  return r;
}

}  // namespace iss::peebot
