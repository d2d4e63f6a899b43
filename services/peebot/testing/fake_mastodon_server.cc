#include "services/peebot/testing/fake_mastodon_server.h"

#include <algorithm>
#include <iterator>
#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "services/peebot/text_limits.h"

namespace iss::peebot::testing {
namespace {

using Json = nlohmann::json;

constexpr absl::Duration kWindow = absl::Hours(3);
constexpr char kHost[] = "https://mastodon.test";

FakeHttpResponse Error(int status, const std::string& text) {
  return FakeHttpResponse::Json(status, {{"error", text}});
}

std::string Iso8601(absl::Time t, const char* seconds_format) {
  return absl::FormatTime(absl::StrCat("%Y-%m-%dT%H:%M:", seconds_format, "Z"), t,
                          absl::UTCTimeZone());
}

std::string HtmlParagraph(const std::string& text) {
  std::string out = "<p>";
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      case '\n':
        out += "<br />";
        break;
      default:
        out.push_back(c);
    }
  }
  return out + "</p>";
}

}  // namespace

// to_json: the e2e suite's view of a stored status (GET /_fake/received).
static void to_json(Json& j, const FakeMastodonStatus& s) {
  j = {{"id", s.id},
       {"account_id", s.account_id},
       {"text", s.text},
       {"visibility", s.visibility},
       {"idempotency_key", s.idempotency_key}};
}

struct FakeMastodonState {
  using Idempotency = FakeMastodonServer::Idempotency;
  struct Stored {
    FakeMastodonStatus status;
    absl::Time created;
  };
  struct Remembered {
    size_t index = 0;  // into `stored`
    absl::Time at;
  };
  std::vector<FakeMastodonAccount> accounts;

  FakeScript script;  // POST /api/v1/statuses only: one queue
  mutable absl::Mutex mu;
  std::vector<Stored> stored ABSL_GUARDED_BY(mu);
  std::map<std::string, Remembered> keys ABSL_GUARDED_BY(mu);  // account id + '\n' + key
  FakeRateWindows windows ABSL_GUARDED_BY(mu){
      kWindow, "X-RateLimit-", [](absl::Time t) { return Iso8601(t, "%E6S"); }};  // per account
  std::vector<int> answers ABSL_GUARDED_BY(mu);
  std::vector<std::string> bodies ABSL_GUARDED_BY(mu);
  Idempotency mode ABSL_GUARDED_BY(mu) = Idempotency::kReplay;
  int max_characters ABSL_GUARDED_BY(mu) = 500;
  int per_url ABSL_GUARDED_BY(mu) = 23;
  int per_window ABSL_GUARDED_BY(mu) = 300;
  int64_t next_id ABSL_GUARDED_BY(mu) = 113000000000000001;

  FakeHttpResponse Serve(const FakeHttpRequest& req) {
    if (req.body_too_large) return Error(413, "Request Entity Too Large");
    if (req.path == "/api/v2/instance" && req.method == "GET") return Instance();
    if (req.path == "/_fake/received" && req.method == "GET") return Received();
    if (req.path != "/api/v1/statuses") return Error(404, "Record not found");
    if (req.method != "POST") return Error(405, "Method Not Allowed");
    FakeHttpResponse res = PostStatus(req);
    absl::MutexLock lock(&mu);
    answers.push_back(res.drop ? 0 : res.status);
    bodies.push_back(req.body);
    return res;
  }

  const FakeMastodonAccount* Authenticate(const FakeHttpRequest& req) const {
    const std::string auth = req.Header("authorization");
    if (!absl::StartsWith(auth, "Bearer ")) return nullptr;
    for (const auto& a : accounts) {
      if (a.token == auth.substr(7)) return &a;
    }
    return nullptr;
  }

  static bool CanWrite(const FakeMastodonAccount& a) {
    for (absl::string_view scope : absl::StrSplit(a.scopes, ' ')) {
      if (scope == "write" || scope == "write:statuses") return true;
    }
    return false;
  }

  FakeHttpResponse Fault(const FakeReply& r, const std::string& account_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (auto page = r.TransportAnswer(
            absl::StrCat("<!DOCTYPE html><html><body>", r.status, "</body></html>"))) {
      return *page;
    }
    FakeHttpResponse res;
    if (r.status == 429) {
      res = Error(429, "Too many requests");
      windows.AddHeaders(&res, account_id, per_window, r.rate_limit_reset, /*remaining=*/0);
    } else if (r.status == 503) {
      res = Error(503, "There was a temporary problem serving your request, please try again");
    } else {
      res = Error(r.status, r.status >= 500 ? "We're sorry, but something went wrong on our end."
                                            : "scripted answer");
    }
    res.delay = r.delay;
    return res;
  }

  Json StatusJson(const Stored& s, const FakeMastodonAccount& a) const {
    return {{"id", s.status.id},
            {"created_at", Iso8601(s.created, "%E3S")},
            {"uri", absl::StrCat(kHost, "/users/", a.username, "/statuses/", s.status.id)},
            {"url", s.status.url},
            {"content", HtmlParagraph(s.status.text)},
            {"visibility", s.status.visibility},
            {"language", s.status.language.empty() ? Json(nullptr) : Json(s.status.language)},
            {"account", {{"id", a.id}, {"username", a.username}, {"acct", a.username}}}};
  }

  FakeHttpResponse PostStatus(const FakeHttpRequest& req) {
    const FakeMastodonAccount* a = Authenticate(req);
    if (a == nullptr) return Error(401, "The access token is invalid");
    if (!CanWrite(*a)) return Error(403, "This action is outside the authorized scopes");
    absl::MutexLock lock(&mu);
    const std::optional<FakeReply> fault = script.Next("");
    if (fault && fault->replaces() && !fault->accept_anyway) return Fault(*fault, a->id);

    // Mastodon takes a form or JSON with the same names.
    std::map<std::string, std::string> params;
    if (absl::StartsWith(req.Header("content-type"), "application/json")) {
      const Json j = Json::parse(req.body, nullptr, false);
      if (!j.is_object()) return Error(400, "Error occurred while parsing request parameters");
      for (const auto& [k, v] : j.items()) {
        if (v.is_string()) params[k] = v.get<std::string>();
      }
    } else {
      params = DecodeForm(req.body);
    }
    const std::string text = params["status"];
    const std::string visibility = params.count("visibility") ? params["visibility"] : "public";
    const std::string key = req.Header("idempotency-key");

    // The key is looked up before anything else is checked, per account.
    const std::string key_id = absl::StrCat(a->id, "\n", key);
    if (!key.empty() && mode != Idempotency::kIgnored) {
      auto it = keys.find(key_id);
      if (it != keys.end() && absl::Now() - it->second.at < absl::Hours(1)) {
        if (mode == Idempotency::kRepeat500) {
          return Error(500, "We're sorry, but something went wrong on our end.");
        }
        FakeHttpResponse res =
            FakeHttpResponse::Json(200, StatusJson(stored[it->second.index], *a));
        windows.AddHeaders(&res, a->id, per_window);
        return res;
      }
    }
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
      return Error(422, "Validation failed: Text can't be blank");
    }
    const TextLimit limit =
        MastodonTextLimit(static_cast<size_t>(max_characters), static_cast<size_t>(per_url));
    if (!FitsLimit(text, limit)) {
      return Error(422, absl::StrCat("Validation failed: Text character limit of ", max_characters,
                                     " exceeded"));
    }
    if (visibility != "public" && visibility != "unlisted" && visibility != "private" &&
        visibility != "direct") {
      return Error(422, "Validation failed: Visibility is not included in the list");
    }
    FakeRateWindows::Window& w = windows.For(a->id);
    if (w.used >= per_window) {
      FakeHttpResponse res = Error(429, "Too many requests");
      windows.AddHeaders(&res, a->id, per_window);
      return res;
    }
    ++w.used;
    const std::string id = absl::StrCat(next_id++);
    stored.push_back({FakeMastodonStatus{id, a->id, text, visibility, params["language"], key,
                                         absl::StrCat(kHost, "/@", a->username, "/", id)},
                      absl::Now()});
    if (!key.empty()) keys[key_id] = {stored.size() - 1, absl::Now()};  // after creating
    if (fault && fault->replaces())
      return Fault(*fault, a->id);  // created; answer lost or an error
    FakeHttpResponse res = FakeHttpResponse::Json(200, StatusJson(stored.back(), *a));
    windows.AddHeaders(&res, a->id, per_window);
    if (fault) res.delay = fault->delay;
    return res;
  }

  FakeHttpResponse Instance() {
    absl::MutexLock lock(&mu);
    return FakeHttpResponse::Json(200, {{"domain", "mastodon.test"},
                                        {"title", "Fake Mastodon"},
                                        {"configuration",
                                         {{"statuses",
                                           {{"max_characters", max_characters},
                                            {"max_media_attachments", 4},
                                            {"characters_reserved_per_url", per_url}}}}}});
  }

  std::vector<FakeMastodonStatus> Statuses() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::vector<FakeMastodonStatus> out;
    for (const Stored& s : stored) out.push_back(s.status);
    return out;
  }

  FakeHttpResponse Received() {
    absl::MutexLock lock(&mu);
    return FakeHttpResponse::Json(200, {{"statuses", Statuses()}});
  }
};

absl::StatusOr<std::unique_ptr<FakeMastodonServer>> FakeMastodonServer::Start(
    std::vector<FakeMastodonAccount> accounts, const std::string& address, bool tls) {
  auto state = std::make_unique<FakeMastodonState>();
  state->accounts = std::move(accounts);
  std::unique_ptr<FakeMastodonServer> server(new FakeMastodonServer());
  if (absl::Status s = server->Listen(std::move(state), address, tls, "fake-mastodon"); !s.ok()) {
    return s;
  }
  return server;
}

FakeMastodonServer::~FakeMastodonServer() = default;

void FakeMastodonServer::Push(FakeReply reply) { state().script.Push("", reply); }

void FakeMastodonServer::set_idempotency(Idempotency mode) { Set(&FakeMastodonState::mode, mode); }
void FakeMastodonServer::set_max_characters(int n) { Set(&FakeMastodonState::max_characters, n); }
void FakeMastodonServer::set_characters_per_url(int n) { Set(&FakeMastodonState::per_url, n); }
void FakeMastodonServer::set_statuses_per_window(int n) { Set(&FakeMastodonState::per_window, n); }

void FakeMastodonServer::ExpireIdempotencyKeys() {
  absl::MutexLock lock(&state().mu);
  state().keys.clear();
}

std::vector<FakeMastodonStatus> FakeMastodonServer::statuses() const {
  absl::MutexLock lock(&state().mu);
  return state().Statuses();
}

std::vector<FakeMastodonStatus> FakeMastodonServer::statuses(const std::string& account_id) const {
  std::vector<FakeMastodonStatus> all = statuses(), out;
  std::copy_if(all.begin(), all.end(), std::back_inserter(out),
               [&account_id](const FakeMastodonStatus& s) { return s.account_id == account_id; });
  return out;
}

int FakeMastodonServer::requests() const { return static_cast<int>(answers().size()); }
std::vector<int> FakeMastodonServer::answers() const { return Get(&FakeMastodonState::answers); }
std::vector<std::string> FakeMastodonServer::bodies() const {
  return Get(&FakeMastodonState::bodies);
}

}  // namespace iss::peebot::testing
