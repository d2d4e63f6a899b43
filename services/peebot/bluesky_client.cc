#include "services/peebot/bluesky_client.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/percent.h"
#include "nlohmann/json.hpp"
#include "services/peebot/json_fields.h"
#include "services/peebot/tid.h"

namespace iss::peebot {
namespace {

using Json = nlohmann::json;

// Query values we send are DIDs, NSIDs and TIDs; escape anything else anyway.
std::string QueryEscape(const std::string& s) {
  return percent::Encode(s, [](unsigned char c) { return percent::Unreserved(c) || c == ':'; });
}

}  // namespace

BlueskyResult InterpretBlueskyResponse(const std::string& call, int http_status,
                                       const std::map<std::string, std::string>& headers,
                                       const std::string& body) {
  BlueskyResult r;
  r.call = call;
  r.http_status = http_status;
  r.rate_limit.limit = IntHeader(headers, "ratelimit-limit");
  r.rate_limit.remaining = IntHeader(headers, "ratelimit-remaining");
  if (auto reset = IntHeader(headers, "ratelimit-reset")) {
    r.rate_limit.reset = absl::FromUnixSeconds(*reset);
  }
  if (auto after = IntHeader(headers, "retry-after")) {
    r.rate_limit.retry_after = absl::Seconds(*after);
  }
  if (auto it = headers.find("ratelimit-policy"); it != headers.end()) {
    r.rate_limit.policy = it->second;
  }
  // Proxies in front of a PDS may answer with HTML: cope, never throw.
  const Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  const bool success = http_status >= 200 && http_status < 300;
  if (!success) {
    r.error = JsonString(j, "error");
    r.message = JsonString(j, "message");
    if (r.error.empty() && r.message.empty()) r.message = body.substr(0, 200);
    return r;
  }
  auto missing = [&](const std::string& what) {
    r.error = "InvalidResponse";
    r.message = absl::StrCat(call, " answered ", http_status, " without ", what);
  };
  if (!j.is_object()) {
    missing("a JSON object");
    return r;
  }
  r.uri = JsonString(j, "uri");
  r.cid = JsonString(j, "cid");
  if (call == kXrpcCreateSession || call == kXrpcRefreshSession) {
    for (const char* f : {"accessJwt", "refreshJwt", "did", "handle"}) {
      if (JsonString(j, f).empty()) {
        missing(f);
        return r;
      }
    }
  } else if (call == kXrpcCreateRecord) {
    if (r.uri.empty() || r.cid.empty()) missing("uri and cid");
  } else if (call == kXrpcGetRecord) {
    if (r.uri.empty() || !j.contains("value") || !j["value"].is_object()) {
      missing("uri and value");
      return r;
    }
    r.record_json = JsonDump(j["value"]);
    r.record_text = JsonString(j["value"], "text");
  }
  return r;
}

std::string BlueskyDatetime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

std::string BlueskyPostRecord(const std::string& text, absl::Time created_at,
                              const std::vector<std::string>& langs) {
  Json record = {{"$type", kBlueskyPostCollection},
                 {"text", text},
                 {"createdAt", BlueskyDatetime(created_at)}};
  if (!langs.empty()) record["langs"] = langs;
  return JsonDump(record);
}

std::string BlueskyPostUri(const std::string& did, const std::string& rkey) {
  return absl::StrCat("at://", did, "/", kBlueskyPostCollection, "/", rkey);
}

std::string BlueskyPostWebUrl(const std::string& handle_or_did, const std::string& rkey) {
  return absl::StrCat("https://bsky.app/profile/", handle_or_did, "/post/", rkey);
}

absl::StatusOr<std::unique_ptr<BlueskyClient>> BlueskyClient::Create(BlueskyOptions options) {
  auto endpoint = ParseHttpEndpoint(options.pds_url, "Bluesky PDS URL");
  if (!endpoint.ok()) return endpoint.status();
  if (options.identifier.empty()) {
    return absl::InvalidArgumentError("Bluesky identifier (handle, e-mail or DID) is empty");
  }
  if (options.app_password.empty()) {
    return absl::InvalidArgumentError("Bluesky app password is empty");
  }
  return std::unique_ptr<BlueskyClient>(new BlueskyClient(std::move(options), *endpoint));
}

absl::StatusOr<BlueskyResult> BlueskyClient::Call(const std::string& nsid,
                                                  const std::string& method,
                                                  const std::string& query, const std::string& body,
                                                  const std::string& bearer,
                                                  std::optional<BlueskySession>* tokens) {
  HttpRequest req;
  req.method = method;
  req.target = absl::StrCat(endpoint_.path, "/xrpc/", nsid, query.empty() ? "" : "?", query);
  req.headers.emplace_back("Accept", "application/json");
  if (!bearer.empty()) req.headers.emplace_back("Authorization", absl::StrCat("Bearer ", bearer));
  if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  req.body = body;
  auto res = SendHttp(endpoint_, req, {options_.timeout, options_.ca_file, "Bluesky PDS"});
  if (!res.ok()) return res.status();
  BlueskyResult r = InterpretBlueskyResponse(nsid, res->status, res->headers, res->body);
  if (r.ok() && tokens != nullptr) {
    // Tokens stay out of the result (results get logged): only the session holds them.
    const Json j = Json::parse(res->body, nullptr, false);
    *tokens = BlueskySession{JsonString(j, "did"), JsonString(j, "handle"),
                             JsonString(j, "accessJwt"), JsonString(j, "refreshJwt")};
  }
  return r;
}

absl::StatusOr<BlueskyResult> BlueskyClient::SessionCall(const std::string& nsid,
                                                         const std::string& body,
                                                         const std::string& bearer, int* counter) {
  std::optional<BlueskySession> tokens;
  auto r = Call(nsid, "POST", "", body, bearer, &tokens);
  if (tokens) {
    session_ = std::move(tokens);
    ++*counter;
  }
  return r;
}

absl::StatusOr<BlueskyResult> BlueskyClient::LoginLocked() {
  const std::string body =
      JsonDump(Json{{"identifier", options_.identifier}, {"password", options_.app_password}});
  return SessionCall(kXrpcCreateSession, body, "", &logins_);
}

absl::StatusOr<BlueskyResult> BlueskyClient::Login() {
  absl::MutexLock lock(&mu_);
  return LoginLocked();
}

std::optional<BlueskySession> BlueskyClient::session() const {
  absl::MutexLock lock(&mu_);
  return session_;
}

int BlueskyClient::logins() const {
  absl::MutexLock lock(&mu_);
  return logins_;
}

int BlueskyClient::refreshes() const {
  absl::MutexLock lock(&mu_);
  return refreshes_;
}

absl::StatusOr<BlueskyResult> BlueskyClient::CreatePost(const std::string& rkey,
                                                        const std::string& record_json) {
  if (!IsValidTid(rkey)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rkey must be a TID for ", kBlueskyPostCollection, ": \"", rkey, "\""));
  }
  if (!Json::parse(record_json, nullptr, false).is_object()) {
    return absl::InvalidArgumentError("record_json must be a JSON object");
  }
  absl::MutexLock lock(&mu_);
  // The record is spliced in as given: the same bytes on every attempt. Sent
  // under the lock held above (a lambda hides that from the analysis).
  auto send = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    const std::string body = absl::StrCat(
        "{\"repo\":", JsonDump(Json(session_->did)), ",\"collection\":\"", kBlueskyPostCollection,
        "\",\"rkey\":", JsonDump(Json(rkey)), ",\"record\":", record_json, "}");
    return Call(kXrpcCreateRecord, "POST", "", body, session_->access_jwt);
  };
  if (!session_) {
    auto login = LoginLocked();
    if (!login.ok() || !login->ok()) return login;
  }
  auto r = send();
  if (!r.ok() || !r->token_expired()) return r;
  // Rejected for the token, so nothing was created: renew and send again, once.
  // refreshSession: no body, the refresh token (not the access token) as bearer.
  auto refreshed = SessionCall(kXrpcRefreshSession, "", session_->refresh_jwt, &refreshes_);
  if (!refreshed.ok()) return refreshed.status();
  if (!refreshed->ok()) {
    // 429/5xx: try later with the same session. A refused refresh token
    // (401, 400 ExpiredToken/InvalidToken): log in again.
    if (refreshed->rate_limited() || refreshed->http_status >= 500) return refreshed;
    session_.reset();
    auto login = LoginLocked();
    if (!login.ok() || !login->ok()) return login;
  }
  return send();
}

absl::StatusOr<BlueskyResult> BlueskyClient::GetPost(const std::string& rkey) {
  if (!IsValidTid(rkey)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rkey must be a TID for ", kBlueskyPostCollection, ": \"", rkey, "\""));
  }
  absl::MutexLock lock(&mu_);
  if (!session_) {  // the repo's DID comes from the session
    auto login = LoginLocked();
    if (!login.ok() || !login->ok()) return login;
  }
  // getRecord needs no authentication.
  const std::string query =
      absl::StrCat("repo=", QueryEscape(session_->did), "&collection=", kBlueskyPostCollection,
                   "&rkey=", QueryEscape(rkey));
  return Call(kXrpcGetRecord, "GET", query, "", "");
}

}  // namespace iss::peebot
