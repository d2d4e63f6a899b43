#include "services/peebot/testing/fake_x_server.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace iss::peebot::testing {

struct FakeXState {
  OAuthCredentials creds;
  bool tls = false;

  mutable absl::Mutex mu;
  std::deque<FakeXReply> script ABSL_GUARDED_BY(mu);
  std::vector<FakeXPost> posts ABSL_GUARDED_BY(mu);
  std::set<std::string> nonces ABSL_GUARDED_BY(mu);
  std::vector<int> statuses ABSL_GUARDED_BY(mu);
  int requests ABSL_GUARDED_BY(mu) = 0;
  int rejected_auth ABSL_GUARDED_BY(mu) = 0;
  int64_t next_id ABSL_GUARDED_BY(mu) = 1850000000000000000;

  // The transport (fake_http_server.h) calls this for every request.
  FakeHttpResponse Serve(const FakeHttpRequest& req) {
    if (req.body_too_large) {
      Record(413);
      return Json(413, {{"title", "Payload Too Large"}, {"status", 413}});
    }
    FakeXReply reply;
    FakeHttpResponse res = Handle(req, &reply);
    res.delay = reply.delay;
    return res;
  }

  static FakeHttpResponse Json(int status, const nlohmann::json& body) {
    return FakeHttpResponse::Json(status, body);
  }

  void Record(int status) {
    absl::MutexLock lock(&mu);
    statuses.push_back(status);
  }

  FakeHttpResponse Handle(const FakeHttpRequest& req, FakeXReply* reply_out) {
    {
      absl::MutexLock lock(&mu);
      ++requests;
    }
    if (req.target != "/2/tweets") {
      Record(404);
      return Json(404, {{"title", "Not Found"}, {"status", 404}});
    }
    if (req.method != "POST") {
      Record(405);
      return Json(405, {{"title", "Method Not Allowed"}, {"status", 405}});
    }
    if (absl::Status auth = CheckAuth(req); !auth.ok()) {
      absl::MutexLock lock(&mu);
      ++rejected_auth;
      statuses.push_back(401);
      return Json(
          401,
          {{"title", "Unauthorized"}, {"status", 401}, {"detail", std::string(auth.message())}});
    }
    const nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("text") || !body["text"].is_string()) {
      Record(400);
      return Json(400, {{"title", "Invalid Request"},
                        {"status", 400},
                        {"detail", "body must be a JSON object with a string 'text'"}});
    }
    const std::string text = body["text"].get<std::string>();

    absl::MutexLock lock(&mu);
    FakeXReply reply;
    if (!script.empty()) {
      reply = script.front();
      script.pop_front();
    }
    *reply_out = reply;
    bool seen = false;
    for (const FakeXPost& p : posts) seen = seen || p.text == text;
    if (reply.status == 201 && seen) reply.status = 403;  // X refuses duplicate content
    statuses.push_back(reply.status);
    if (reply.status == 201 || reply.accept_anyway) {
      if (!seen) posts.push_back({absl::StrCat(next_id++), text});
    }
    if (reply.status == 201) {
      return Json(201, {{"data", {{"id", posts.back().id}, {"text", text}}}});
    }
    if (reply.status == 429) {
      auto res = Json(
          429, {{"title", "Too Many Requests"}, {"detail", "Too Many Requests"}, {"status", 429}});
      if (reply.rate_limit_reset) {
        res.headers.emplace_back("x-rate-limit-reset",
                                 absl::StrCat(absl::ToUnixSeconds(*reply.rate_limit_reset)));
        res.headers.emplace_back("x-rate-limit-remaining", "0");
      }
      return res;
    }
    if (reply.status == 403) {
      return Json(403, {{"detail", "You are not allowed to create a Tweet with duplicate content."},
                        {"title", "Forbidden"},
                        {"status", 403},
                        {"type", "about:blank"}});
    }
    return Json(reply.status, {{"title", "Service Unavailable"}, {"status", reply.status}});
  }

  absl::Status CheckAuth(const FakeHttpRequest& req) {
    auto it = req.headers.find("authorization");
    if (it == req.headers.end()) return absl::UnauthenticatedError("no Authorization header");
    auto fields = ParseAuthorizationHeader(it->second);
    if (!fields.ok()) return fields.status();
    for (const char* k : {"oauth_consumer_key", "oauth_nonce", "oauth_signature",
                          "oauth_signature_method", "oauth_timestamp", "oauth_token"}) {
      if (!fields->count(k)) return absl::UnauthenticatedError(absl::StrCat("missing ", k));
    }
    if (fields->at("oauth_signature_method") != "HMAC-SHA1") {
      return absl::UnauthenticatedError("unsupported signature method");
    }
    if (fields->at("oauth_consumer_key") != creds.consumer_key) {
      return absl::UnauthenticatedError("unknown consumer key");
    }
    if (fields->at("oauth_token") != creds.token) {
      return absl::UnauthenticatedError("unknown token");
    }
    int64_t ts = 0;
    if (!absl::SimpleAtoi(fields->at("oauth_timestamp"), &ts) ||
        absl::AbsDuration(absl::FromUnixSeconds(ts) - absl::Now()) > absl::Minutes(5)) {
      return absl::UnauthenticatedError("timestamp out of range");
    }
    auto host = req.headers.find("host");
    if (host == req.headers.end()) return absl::UnauthenticatedError("no Host header");
    const std::string url = absl::StrCat(tls ? "https://" : "http://", host->second, req.target);
    auto expected = OAuth1Signer(creds).Signature("POST", url, {}, fields->at("oauth_nonce"),
                                                  fields->at("oauth_timestamp"));
    if (!expected.ok()) return expected.status();
    if (*expected != fields->at("oauth_signature")) {
      return absl::UnauthenticatedError("signature mismatch");
    }
    absl::MutexLock lock(&mu);
    if (!nonces.insert(fields->at("oauth_nonce")).second) {
      return absl::UnauthenticatedError("nonce reused");
    }
    return absl::OkStatus();
  }
};

absl::StatusOr<std::unique_ptr<FakeXServer>> FakeXServer::Start(OAuthCredentials credentials,
                                                                const std::string& address,
                                                                bool tls) {
  auto state = std::make_unique<FakeXState>();
  state->creds = std::move(credentials);
  state->tls = tls;
  std::unique_ptr<FakeXServer> server(new FakeXServer());
  if (absl::Status s = server->Listen(std::move(state), address, tls, "fake-x"); !s.ok()) return s;
  return server;
}

FakeXServer::~FakeXServer() = default;

void FakeXServer::Push(FakeXReply reply) {
  absl::MutexLock lock(&state().mu);
  state().script.push_back(reply);
}

std::vector<FakeXPost> FakeXServer::posts() const { return Get(&FakeXState::posts); }
int FakeXServer::requests() const { return Get(&FakeXState::requests); }
int FakeXServer::rejected_auth() const { return Get(&FakeXState::rejected_auth); }
std::vector<int> FakeXServer::statuses() const { return Get(&FakeXState::statuses); }

}  // namespace iss::peebot::testing
