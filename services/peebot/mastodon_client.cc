#include "services/peebot/mastodon_client.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "services/peebot/json_fields.h"

namespace iss::peebot {
namespace {

using Json = nlohmann::json;

}  // namespace

std::string MastodonIdempotencyKey(const std::string& detection_id) {
  return absl::StrCat("peebot-", detection_id);
}

std::string MastodonStatusBody(const MastodonStatusRequest& request) {
  Json body = {{"status", request.text}, {"visibility", request.visibility}};
  if (!request.language.empty()) body["language"] = request.language;
  return JsonDump(body);
}

MastodonResult InterpretMastodonResponse(int http_status,
                                         const std::map<std::string, std::string>& headers,
                                         const std::string& body) {
  MastodonResult r;
  r.http_status = http_status;
  r.rate_limit.limit = IntHeader(headers, "x-ratelimit-limit");
  r.rate_limit.remaining = IntHeader(headers, "x-ratelimit-remaining");
  if (auto it = headers.find("x-ratelimit-reset"); it != headers.end()) {
    // Time#iso8601(6): "2026-09-10T12:35:00.000000Z".
    absl::Time reset;
    std::string err;
    if (absl::ParseTime(absl::RFC3339_full, it->second, &reset, &err)) r.rate_limit.reset = reset;
  }
  const Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (http_status >= 200 && http_status < 300) {
    r.status_id = JsonString(j, "id");
    r.url = JsonString(j, "url");
    r.uri = JsonString(j, "uri");
    r.created_at = JsonString(j, "created_at");
    if (r.status_id.empty())
      r.error = absl::StrCat("invalid response: no status id in ", body.substr(0, 200));
    return r;
  }
  r.error = JsonString(j, "error");
  if (const std::string d = JsonString(j, "error_description"); !d.empty()) {
    r.error = absl::StrCat(r.error, ": ", d);
  }
  if (r.error.empty()) r.error = body.substr(0, 200);
  return r;
}

absl::StatusOr<std::unique_ptr<MastodonClient>> MastodonClient::Create(MastodonOptions options) {
  auto endpoint = ParseHttpEndpoint(options.instance_url, "Mastodon instance URL");
  if (!endpoint.ok()) return endpoint.status();
  if (options.access_token.empty()) {
    return absl::InvalidArgumentError("Mastodon access token is empty");
  }
  return std::unique_ptr<MastodonClient>(new MastodonClient(std::move(options), *endpoint));
}

absl::StatusOr<MastodonResult> MastodonClient::PostStatus(const MastodonStatusRequest& request) {
  if (request.text.empty()) return absl::InvalidArgumentError("Mastodon status text is empty");
  if (request.idempotency_key.empty()) {
    return absl::InvalidArgumentError(
        "Mastodon idempotency_key is empty (needed for exactly once)");
  }
  if (request.visibility != "public" && request.visibility != "unlisted" &&
      request.visibility != "private" && request.visibility != "direct") {
    return absl::InvalidArgumentError(
        absl::StrCat("Mastodon visibility must be public, unlisted, private or direct: \"",
                     request.visibility, "\""));
  }
  HttpRequest req;
  req.target = absl::StrCat(endpoint_.path, "/api/v1/statuses");
  req.headers = {{"Authorization", absl::StrCat("Bearer ", options_.access_token)},
                 {"Content-Type", "application/json"},
                 {"Accept", "application/json"},
                 {"Idempotency-Key", request.idempotency_key}};
  req.body = MastodonStatusBody(request);
  auto res = SendHttp(endpoint_, req, {options_.timeout, options_.ca_file, "Mastodon"});
  if (!res.ok()) return res.status();
  return InterpretMastodonResponse(res->status, res->headers, res->body);
}

absl::StatusOr<MastodonInstanceLimits> MastodonClient::GetInstanceLimits() {
  HttpRequest req;
  req.method = "GET";
  req.target = absl::StrCat(endpoint_.path, "/api/v2/instance");
  req.headers = {{"Accept", "application/json"}};
  auto res = SendHttp(endpoint_, req, {options_.timeout, options_.ca_file, "Mastodon"});
  if (!res.ok()) return res.status();
  if (res->status != 200) {
    return absl::UnavailableError(absl::StrCat("Mastodon /api/v2/instance answered ", res->status));
  }
  const Json j = Json::parse(res->body, nullptr, false);
  const Json* statuses = nullptr;
  if (j.is_object() && j.contains("configuration") && j["configuration"].is_object() &&
      j["configuration"].contains("statuses") && j["configuration"]["statuses"].is_object()) {
    statuses = &j["configuration"]["statuses"];
  }
  if (statuses == nullptr || !statuses->contains("max_characters") ||
      !(*statuses)["max_characters"].is_number_unsigned()) {
    return absl::UnavailableError(
        "Mastodon /api/v2/instance has no configuration.statuses.max_characters");
  }
  MastodonInstanceLimits limits;
  limits.max_characters = (*statuses)["max_characters"].get<size_t>();
  if (statuses->contains("characters_reserved_per_url") &&
      (*statuses)["characters_reserved_per_url"].is_number_unsigned()) {
    limits.characters_reserved_per_url = (*statuses)["characters_reserved_per_url"].get<size_t>();
  }
  return limits;
}

}  // namespace iss::peebot
