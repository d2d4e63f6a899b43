#include "services/peebot/x_client.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace iss::peebot {

XPostResult InterpretXResponse(int http_status, const std::map<std::string, std::string>& headers,
                               const std::string& body) {
  XPostResult r;
  r.http_status = http_status;
  if (auto it = headers.find("x-rate-limit-reset"); it != headers.end()) {
    int64_t reset = 0;
    if (absl::SimpleAtoi(it->second, &reset)) r.rate_limit_reset = absl::FromUnixSeconds(reset);
  }
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    if (j.contains("data") && j["data"].is_object() && j["data"].contains("id") &&
        j["data"]["id"].is_string()) {
      r.post_id = j["data"]["id"].get<std::string>();
    }
    if (j.contains("detail") && j["detail"].is_string()) {
      r.detail = j["detail"].get<std::string>();
    } else if (j.contains("title") && j["title"].is_string()) {
      r.detail = j["title"].get<std::string>();
    }
  }
  if (r.detail.empty() && http_status >= 300) r.detail = body.substr(0, 200);
  r.duplicate =
      http_status == 403 && absl::StrContains(absl::AsciiStrToLower(r.detail), "duplicate");
  return r;
}

absl::StatusOr<std::unique_ptr<XClient>> XClient::Create(XClientOptions options) {
  auto target = ParseHttpEndpoint(options.base_url, "X base URL");
  if (!target.ok()) return target.status();
  return std::unique_ptr<XClient>(new XClient(std::move(options), std::move(*target)));
}

absl::StatusOr<XPostResult> XClient::CreatePost(const std::string& text) {
  const std::string path = absl::StrCat(target_.path, "/2/tweets");
  auto auth = signer_.AuthorizationHeader("POST", absl::StrCat(target_.Origin(), path), {});
  if (!auth.ok()) return auth.status();
  HttpRequest req;
  req.target = path;
  req.headers = {{"Content-Type", "application/json"}, {"Authorization", *auth}};
  req.body = nlohmann::json{{"text", text}}.dump();
  auto res = SendHttp(target_, req, {options_.timeout, options_.ca_file, "X API"});
  if (!res.ok()) return res.status();
  return InterpretXResponse(res->status, res->headers, res->body);
}

}  // namespace iss::peebot
