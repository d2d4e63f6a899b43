#include "services/peebot/testing/fake_bluesky_server.h"

#include <openssl/sha.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <variant>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "services/peebot/json_fields.h"
#include "services/peebot/text_limits.h"
#include "services/peebot/tid.h"

namespace iss::peebot::testing {
namespace {

using Json = nlohmann::json;

constexpr char kCreateSession[] = "com.atproto.server.createSession";
constexpr char kRefreshSession[] = "com.atproto.server.refreshSession";
constexpr char kCreateRecord[] = "com.atproto.repo.createRecord";
constexpr char kGetRecord[] = "com.atproto.repo.getRecord";
constexpr char kPost[] = "app.bsky.feed.post";
constexpr int kCreatePoints = 3;

FakeHttpResponse Xrpc(int status, const std::string& error, const std::string& message) {
  return FakeHttpResponse::Json(status, {{"error", error}, {"message", message}});
}

// A CID-looking string derived from the record bytes (not a real CID).
std::string FakeCid(const std::string& bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  static constexpr char kB32[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::string out = "bafyrei";
  for (int i = 0; i < 32; ++i) out.push_back(kB32[digest[i] & 0x1F]);
  return out;
}

}  // namespace

// to_json: the e2e suite's view of a stored post (GET /_fake/received).
static void to_json(Json& j, const FakeBlueskyPost& p) {
  j = {{"did", p.did}, {"rkey", p.rkey}, {"uri", p.uri}, {"cid", p.cid}, {"text", p.text}};
}

struct FakeBlueskyState {
  struct AccessToken {
    std::string did;
    bool expired = false;
  };
  struct RefreshToken {
    std::string did;
    bool revoked = false;
    // Rotated: a re-use within the grace period gets the same successor.
    std::string next_access;
    std::string next_refresh;
  };
  std::vector<FakeBlueskyAccount> accounts;
  bool tls = false;

  FakeScript script;  // per NSID
  mutable absl::Mutex mu;
  std::map<std::string, AccessToken> access ABSL_GUARDED_BY(mu);
  std::map<std::string, RefreshToken> refresh ABSL_GUARDED_BY(mu);
  std::map<std::string, std::deque<absl::Time>> logins ABSL_GUARDED_BY(mu);  // per identifier
  FakeRateWindows budgets ABSL_GUARDED_BY(mu){absl::Hours(1), "RateLimit-", [](absl::Time t) {
                                                return absl::StrCat(absl::ToUnixSeconds(t));
                                              }};  // per DID
  std::vector<FakeBlueskyPost> posts ABSL_GUARDED_BY(mu);
  std::map<std::string, int> calls ABSL_GUARDED_BY(mu);
  std::map<std::string, std::vector<int>> statuses ABSL_GUARDED_BY(mu);
  std::vector<std::string> methods ABSL_GUARDED_BY(mu);
  bool already_exists ABSL_GUARDED_BY(mu) = false;
  int points_per_hour ABSL_GUARDED_BY(mu) = 5000;
  int session_limit ABSL_GUARDED_BY(mu) = 30;
  int64_t next_token ABSL_GUARDED_BY(mu) = 1;
  int64_t next_rev ABSL_GUARDED_BY(mu) = 1;

  FakeHttpResponse Serve(const FakeHttpRequest& req) {
    if (req.body_too_large) return Xrpc(413, "PayloadTooLarge", "request entity too large");
    if (req.path == "/_fake/received") return Received();
    if (!absl::StartsWith(req.path, "/xrpc/")) return Xrpc(404, "NotFound", "Not Found");
    const std::string nsid = req.path.substr(6);
    {
      absl::MutexLock lock(&mu);
      ++calls[nsid];
      methods.push_back(nsid);
    }
    FakeHttpResponse res = Dispatch(nsid, req);
    absl::MutexLock lock(&mu);
    statuses[nsid].push_back(res.drop ? 0 : res.status);
    return res;
  }

  FakeHttpResponse Dispatch(const std::string& nsid, const FakeHttpRequest& req) {
    const bool get = nsid == kGetRecord;
    if (nsid != kCreateSession && nsid != kRefreshSession && nsid != kCreateRecord && !get) {
      return Xrpc(501, "MethodNotImplemented", "Method Not Implemented");
    }
    if (req.method != (get ? "GET" : "POST")) {
      return Xrpc(
          400, "InvalidRequest",
          absl::StrCat("Incorrect HTTP method (", req.method, ") expected ", get ? "GET" : "POST"));
    }
    if (nsid == kCreateSession) return CreateSession(req);
    if (nsid == kRefreshSession) return RefreshSession(req);
    if (nsid == kCreateRecord) return CreateRecord(req);
    return GetRecord(req);
  }

  static FakeHttpResponse Late(FakeHttpResponse res, const std::optional<FakeReply>& r) {
    if (r) res.delay = r->delay;
    return res;
  }

  // What a scripted fault answers (when it replaces the real answer).
  FakeHttpResponse Fault(const FakeReply& r, const std::string& did)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (auto page =
            r.TransportAnswer(absl::StrCat("<html><body><h1>", r.status, "</h1></body></html>"))) {
      return *page;
    }
    FakeHttpResponse res;
    if (r.status == 429) {
      res = Xrpc(429, "RateLimitExceeded", "Rate Limit Exceeded");
      const absl::Time reset = r.rate_limit_reset.value_or(absl::Now() + absl::Minutes(1));
      AddRateHeaders(&res, did, reset, /*remaining=*/0);
      res.headers.emplace_back(
          "Retry-After",
          absl::StrCat(std::max<int64_t>(
              0, absl::ToInt64Seconds(absl::Ceil(reset - absl::Now(), absl::Seconds(1))))));
    } else if (r.status >= 500) {
      // 500s never carry details (xrpc-server errors.ts).
      res = Xrpc(r.status, r.status == 500 ? "InternalServerError" : "UpstreamFailure",
                 r.status == 500 ? "Internal Server Error" : "Upstream Failure");
    } else {
      res = Xrpc(r.status, "InvalidRequest", "scripted answer");
    }
    res.delay = r.delay;
    return res;
  }

  void AddRateHeaders(FakeHttpResponse* res, const std::string& did,
                      std::optional<absl::Time> reset_override = std::nullopt,
                      std::optional<int> remaining_override = std::nullopt)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    budgets.AddHeaders(res, did, points_per_hour, reset_override, remaining_override);
    res->headers.emplace_back("RateLimit-Policy", absl::StrCat(points_per_hour, ";w=3600"));
  }

  const FakeBlueskyAccount* Account(const std::string& identifier) const {
    for (const auto& a : accounts) {
      if (a.handle == identifier || a.did == identifier) return &a;
    }
    return nullptr;
  }

  Json Issue(const FakeBlueskyAccount& a, std::string* access_out, std::string* refresh_out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const int64_t n = next_token++;
    const std::string at = absl::StrCat("fake-access-", n, "-", a.handle);
    const std::string rt = absl::StrCat("fake-refresh-", n, "-", a.handle);
    access[at] = {a.did, false};
    refresh[rt] = {a.did, false, "", ""};
    if (access_out != nullptr) *access_out = at;
    if (refresh_out != nullptr) *refresh_out = rt;
    return SessionJson(a, at, rt);
  }

  static Json SessionJson(const FakeBlueskyAccount& a, const std::string& at,
                          const std::string& rt) {
    return {{"accessJwt", at}, {"refreshJwt", rt}, {"handle", a.handle},
            {"did", a.did},    {"active", true},   {"emailConfirmed", true}};
  }

  static std::string Bearer(const FakeHttpRequest& req) {
    const std::string auth = req.Header("authorization");
    return absl::StartsWith(auth, "Bearer ") ? auth.substr(7) : "";
  }

  FakeHttpResponse CreateSession(const FakeHttpRequest& req) {
    const Json body = Json::parse(req.body, nullptr, false);
    const std::string identifier = JsonString(body, "identifier");
    const std::string password = JsonString(body, "password");
    if (identifier.empty() || password.empty()) {
      return Xrpc(400, "InvalidRequest", "Input must have the properties identifier and password");
    }
    absl::MutexLock lock(&mu);
    auto& times = logins[identifier];
    const absl::Time now = absl::Now();
    while (!times.empty() && now - times.front() > absl::Minutes(5)) times.pop_front();
    if (static_cast<int>(times.size()) >= session_limit) {
      FakeHttpResponse res = Xrpc(429, "RateLimitExceeded", "Rate Limit Exceeded");
      res.headers.emplace_back("RateLimit-Limit", absl::StrCat(session_limit));
      res.headers.emplace_back("RateLimit-Remaining", "0");
      res.headers.emplace_back("RateLimit-Reset",
                               absl::StrCat(absl::ToUnixSeconds(times.front() + absl::Minutes(5))));
      res.headers.emplace_back("RateLimit-Policy", absl::StrCat(session_limit, ";w=300"));
      return res;
    }
    times.push_back(now);
    const FakeBlueskyAccount* a = Account(identifier);
    if (a == nullptr || a->password != password) {
      return Xrpc(401, "AuthenticationRequired", "Invalid identifier or password");
    }
    const auto r = script.Next(kCreateSession);
    if (r && r->replaces()) return Fault(*r, a->did);
    return Late(FakeHttpResponse::Json(200, Issue(*a, nullptr, nullptr)), r);
  }

  FakeHttpResponse RefreshSession(const FakeHttpRequest& req) {
    const std::string token = Bearer(req);
    if (token.empty()) return Xrpc(401, "AuthMissing", "Authentication Required");
    absl::MutexLock lock(&mu);
    if (access.count(token)) return Xrpc(400, "InvalidToken", "Bad token scope");
    auto it = refresh.find(token);
    if (it == refresh.end()) return Xrpc(400, "InvalidToken", "Token could not be verified");
    if (it->second.revoked) return Xrpc(400, "ExpiredToken", "Token has been revoked");
    const FakeBlueskyAccount* a = Account(it->second.did);
    const auto r = script.Next(kRefreshSession);
    if (r && r->replaces()) return Fault(*r, a->did);
    if (!it->second.next_refresh.empty()) {  // re-used within the grace period
      return Late(FakeHttpResponse::Json(
                      200, SessionJson(*a, it->second.next_access, it->second.next_refresh)),
                  r);
    }
    std::string at, rt;
    Json session = Issue(*a, &at, &rt);
    refresh[token].next_access = at;  // `it` may have moved: look it up again
    refresh[token].next_refresh = rt;
    return Late(FakeHttpResponse::Json(200, session), r);
  }

  // The DID of a usable access token, or the answer refusing it.
  std::variant<std::string, FakeHttpResponse> CheckAccess(const FakeHttpRequest& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const std::string token = Bearer(req);
    if (token.empty()) return Xrpc(401, "AuthMissing", "Authentication Required");
    if (refresh.count(token)) return Xrpc(400, "InvalidToken", "Bad token scope");
    auto it = access.find(token);
    if (it == access.end()) return Xrpc(400, "InvalidToken", "Token could not be verified");
    if (it->second.expired) return Xrpc(400, "ExpiredToken", "Token has expired");
    return it->second.did;
  }

  FakeHttpResponse CreateRecord(const FakeHttpRequest& req) {
    absl::MutexLock lock(&mu);
    auto checked = CheckAccess(req);
    if (auto* refused = std::get_if<FakeHttpResponse>(&checked)) return *refused;
    const std::string did = std::get<std::string>(checked);
    const std::optional<FakeReply> fault = script.Next(kCreateRecord);
    if (fault && fault->replaces() && !fault->accept_anyway) return Fault(*fault, did);

    const Json body = Json::parse(req.body, nullptr, false);
    if (!body.is_object()) return Xrpc(400, "InvalidRequest", "Request body must be JSON");
    const std::string repo = JsonString(body, "repo");
    const std::string collection = JsonString(body, "collection");
    if (repo.empty() || collection.empty() || !body.contains("record")) {
      return Xrpc(400, "InvalidRequest", "Input must have the properties repo, collection, record");
    }
    const FakeBlueskyAccount* owner = Account(repo);
    if (owner == nullptr || owner->did != did) {
      return Xrpc(401, "AuthenticationRequired", "Authentication Required");
    }
    if (collection != kPost) {
      return Xrpc(400, "InvalidRequest", absl::StrCat("this fake PDS only takes ", kPost));
    }
    const Json& record = body["record"];
    if (!record.is_object()) return Xrpc(400, "InvalidRequest", "Input/record must be an object");
    if (record.contains("$type") && JsonString(record, "$type") != collection) {
      return Xrpc(
          400, "InvalidRequest",
          absl::StrCat("Invalid $type: expected ", collection, ", got ", record["$type"].dump()));
    }
    const std::string invalid = absl::StrCat("Invalid ", kPost, " record: ");
    if (!record.contains("text") || !record["text"].is_string()) {
      return Xrpc(400, "InvalidRequest", invalid + "Record must have the property \"text\"");
    }
    const std::string text = record["text"].get<std::string>();
    if (text.size() > 3000) {
      return Xrpc(400, "InvalidRequest",
                  invalid + "Record/text must not be longer than 3000 characters");
    }
    if (Graphemes(text) > 300) {
      return Xrpc(400, "InvalidRequest",
                  invalid + "Record/text must not be longer than 300 graphemes");
    }
    absl::Time created;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, JsonString(record, "createdAt"), &created, &err)) {
      return Xrpc(400, "InvalidRequest",
                  invalid + "Record/createdAt must be an valid atproto datetime");
    }
    std::string rkey = JsonString(body, "rkey");
    if (body.contains("rkey") && !IsValidTid(rkey)) {
      return Xrpc(400, "InvalidRequest",
                  absl::StrCat("Invalid record key for ", kPost, ": ", body["rkey"].dump()));
    }
    if (rkey.empty()) rkey = FormatTid(absl::ToUnixMicros(absl::Now()), 0);
    FakeRateWindows::Window& budget = budgets.For(did);
    if (budget.used + kCreatePoints > points_per_hour) {
      FakeReply limited = FakeReply::RateLimited(budgets.Reset(budget));
      return Fault(limited, did);
    }
    for (const FakeBlueskyPost& p : posts) {
      if (p.did == did && p.rkey == rkey) {
        // The repository's tree refuses a second value at the key; today's PDS
        // lets that surface as a bare 500.
        return already_exists ? Xrpc(400, "RecordAlreadyExists",
                                     absl::StrCat("Record already exists at ", p.uri))
                              : Xrpc(500, "InternalServerError", "Internal Server Error");
      }
    }
    const std::string record_json = record.dump();
    FakeBlueskyPost post{
        did,  rkey,       absl::StrCat("at://", did, "/", kPost, "/", rkey), FakeCid(record_json),
        text, record_json};
    posts.push_back(post);
    budget.used += kCreatePoints;
    if (fault && fault->replaces()) return Fault(*fault, did);  // created, answer lost or an error
    FakeHttpResponse res = FakeHttpResponse::Json(
        200, {{"uri", post.uri},
              {"cid", post.cid},
              {"commit",
               {{"cid", FakeCid(absl::StrCat("commit", next_rev))},
                {"rev", FormatTid(absl::ToUnixMicros(absl::Now()), next_rev++ & 0x3FF)}}},
              {"validationStatus", "valid"}});
    AddRateHeaders(&res, did);
    return Late(res, fault);
  }

  FakeHttpResponse GetRecord(const FakeHttpRequest& req) {
    for (const char* p : {"repo", "collection", "rkey"}) {
      if (!req.query.count(p)) {
        return Xrpc(400, "InvalidRequest",
                    absl::StrCat("Error: Params must have the property \"", p, "\""));
      }
    }
    absl::MutexLock lock(&mu);
    const auto r = script.Next(kGetRecord);
    if (r && r->replaces()) return Fault(*r, "");
    const FakeBlueskyAccount* a = Account(req.query.at("repo"));
    const std::string did = a == nullptr ? req.query.at("repo") : a->did;
    const std::string uri =
        absl::StrCat("at://", did, "/", req.query.at("collection"), "/", req.query.at("rkey"));
    for (const FakeBlueskyPost& p : posts) {
      if (p.uri == uri) {
        return Late(
            FakeHttpResponse::Json(
                200, {{"uri", p.uri}, {"cid", p.cid}, {"value", Json::parse(p.record_json)}}),
            r);
      }
    }
    return Late(Xrpc(400, "RecordNotFound", absl::StrCat("Could not locate record: ", uri)), r);
  }

  FakeHttpResponse Received() {
    absl::MutexLock lock(&mu);
    return FakeHttpResponse::Json(200, {{"posts", posts}});
  }
};

absl::StatusOr<std::unique_ptr<FakeBlueskyServer>> FakeBlueskyServer::Start(
    std::vector<FakeBlueskyAccount> accounts, const std::string& address, bool tls) {
  auto state = std::make_unique<FakeBlueskyState>();
  state->accounts = std::move(accounts);
  state->tls = tls;
  std::unique_ptr<FakeBlueskyServer> server(new FakeBlueskyServer());
  if (absl::Status s = server->Listen(std::move(state), address, tls, "fake-bluesky"); !s.ok()) {
    return s;
  }
  return server;
}

FakeBlueskyServer::~FakeBlueskyServer() = default;

void FakeBlueskyServer::Push(const std::string& nsid, FakeReply reply) {
  state().script.Push(nsid, reply);
}

void FakeBlueskyServer::ExpireAccessTokens() {
  absl::MutexLock lock(&state().mu);
  for (auto& [token, t] : state().access) t.expired = true;
}

void FakeBlueskyServer::RevokeRefreshTokens() {
  absl::MutexLock lock(&state().mu);
  for (auto& [token, t] : state().refresh) t.revoked = true;
}

void FakeBlueskyServer::set_conflict_answer_already_exists(bool v) {
  Set(&FakeBlueskyState::already_exists, v);
}
void FakeBlueskyServer::set_points_per_hour(int points) {
  Set(&FakeBlueskyState::points_per_hour, points);
}
void FakeBlueskyServer::set_session_limit(int logins) {
  Set(&FakeBlueskyState::session_limit, logins);
}

std::vector<FakeBlueskyPost> FakeBlueskyServer::posts() const {
  return Get(&FakeBlueskyState::posts);
}

std::vector<FakeBlueskyPost> FakeBlueskyServer::posts(const std::string& did) const {
  const std::vector<FakeBlueskyPost> all = posts();
  std::vector<FakeBlueskyPost> out;
  std::copy_if(all.begin(), all.end(), std::back_inserter(out),
               [&did](const FakeBlueskyPost& p) { return p.did == did; });
  return out;
}

int FakeBlueskyServer::calls(const std::string& nsid) const {
  const auto calls = Get(&FakeBlueskyState::calls);
  auto it = calls.find(nsid);
  return it == calls.end() ? 0 : it->second;
}

std::vector<int> FakeBlueskyServer::statuses(const std::string& nsid) const {
  const auto statuses = Get(&FakeBlueskyState::statuses);
  auto it = statuses.find(nsid);
  return it == statuses.end() ? std::vector<int>{} : it->second;
}

std::vector<std::string> FakeBlueskyServer::methods() const {
  return Get(&FakeBlueskyState::methods);
}

}  // namespace iss::peebot::testing
