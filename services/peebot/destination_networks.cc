#include "services/peebot/destination_networks.h"

#include "absl/strings/str_cat.h"
#include "common/grpc_util.h"
#include "services/peebot/https_call.h"
#include "services/peebot/tid.h"

namespace iss::peebot {
namespace {

std::string Head(const std::string& s) { return s.size() > 200 ? s.substr(0, 200) : s; }

AttemptResult Posted(std::string id) {
  AttemptResult r;
  r.kind = AttemptResult::Kind::kPosted;
  r.post_id = std::move(id);
  return r;
}
AttemptResult Failed(std::string error) {
  AttemptResult r;
  r.kind = AttemptResult::Kind::kFailed;
  r.error = std::move(error);
  return r;
}
AttemptResult Retry(std::string error, bool may_have_arrived) {
  AttemptResult r;
  r.kind = AttemptResult::Kind::kRetry;
  r.error = std::move(error);
  r.may_have_arrived = may_have_arrived;
  return r;
}
AttemptResult RateLimited(std::string error, std::optional<absl::Time> at) {
  AttemptResult r;
  r.kind = AttemptResult::Kind::kRateLimited;
  r.error = std::move(error);
  r.retry_at = at;
  return r;
}
AttemptResult TransportFailure(const absl::Status& s) {
  return Retry(s.ToString(), RequestMayHaveArrived(s));
}
// 502/503/504 come from a proxy or a server refusing work: nothing was done.
// A 500 may come after the work (Bluesky's answer to an existing record key,
// mastodon #40399).
bool ServerMayHaveActed(int status) { return status == 500 || status > 504; }

// --- Bluesky -------------------------------------------------------------------

class BlueskyNetwork final : public Network {
 public:
  explicit BlueskyNetwork(BlueskyApi* api) : api_(api) {}
  TextLimit text_limit() const override { return BlueskyTextLimit(); }

  absl::StatusOr<PreparedRequest> Prepare(const Detection& d, const std::string& text,
                                          absl::Time now) const override {
    auto rkey = DetectionRecordKey(d.detection_id, d.start_time);
    if (!rkey.ok()) return rkey.status();
    // createdAt = the first send (the AppView sorts by it), fixed with the record.
    return PreparedRequest{*rkey, BlueskyPostRecord(text, now)};
  }

  AttemptResult Attempt(const std::string& text, const PreparedRequest& req, bool resumed,
                        absl::Time, absl::Time now, bool fresh) override {
    if (resumed) {
      // The record key is ours alone: ask before creating (creating an existing
      // key is a 500 on today's PDS, not a clean conflict).
      auto check = api_->GetPost(req.idempotency_key);
      if (!check.ok()) return TransportFailure(check.status());
      if (check->ok()) {
        if (check->record_text == text) return Posted(check->uri);
        return Failed(absl::StrCat("record key ", req.idempotency_key,
                                   " holds another post (two detections in one microsecond)"));
      }
      if (check->rate_limited()) return FromRateLimit(*check, now);
      if (check->call == kXrpcCreateSession && check->http_status == 401) {
        return Failed(absl::StrCat("cannot log in to look the post up: ", check->error, " ",
                                   Head(check->message)));
      }
      if (!check->record_not_found()) {
        return Retry(absl::StrCat("getRecord answered ", check->http_status, " ", check->error),
                     /*may_have_arrived=*/true);
      }
      if (!fresh) {
        AttemptResult stale;
        stale.kind = AttemptResult::Kind::kStale;
        stale.error = "the earlier attempt did not create the post (getRecord: RecordNotFound)";
        return stale;
      }
    }
    auto r = api_->CreatePost(req.idempotency_key, req.request);
    if (!r.ok()) {
      if (absl::IsInvalidArgument(r.status())) return Failed(r.status().ToString());
      return TransportFailure(r.status());
    }
    if (r->ok()) return Posted(r->uri);
    if (r->rate_limited()) return FromRateLimit(*r, now);
    const std::string what = absl::StrCat(r->call, " answered ", r->http_status, " ", r->error,
                                          r->message.empty() ? "" : ": ", Head(r->message));
    if (r->error == "RecordAlreadyExists") return Retry(what, /*may_have_arrived=*/true);
    if (r->http_status >= 500) return Retry(what, ServerMayHaveActed(r->http_status));
    if (r->http_status == 408) return Retry(what, true);
    // 400 InvalidRequest, 401 after a refresh or login failed: retrying cannot help.
    return Failed(what);
  }

  AttemptResult TestPost(const std::string& text, absl::Time now) override {
    // A fresh TID of the current time (clock id from the microseconds).
    const int64_t us = absl::ToUnixMicros(now);
    const std::string rkey = FormatTid(us, static_cast<int>(us % 1024));
    auto r = api_->CreatePost(rkey, BlueskyPostRecord(text, now));
    if (!r.ok()) return Failed(r.status().ToString());
    if (r->ok()) return Posted(r->uri);
    return Failed(
        absl::StrCat(r->call, " answered ", r->http_status, " ", r->error, ": ", Head(r->message)));
  }

 private:
  static AttemptResult FromRateLimit(const BlueskyResult& r, absl::Time now) {
    // Retry-After (newer PDSes) is relative to the answer; else RateLimit-Reset.
    std::optional<absl::Time> at = r.rate_limit.reset;
    if (r.rate_limit.retry_after) at = now + *r.rate_limit.retry_after;
    return RateLimited(absl::StrCat(r.call, " answered 429 ", r.error), at);
  }
  BlueskyApi* api_;
};

// --- Mastodon ------------------------------------------------------------------

class MastodonNetwork final : public Network {
 public:
  MastodonNetwork(MastodonApi* api, MastodonNetworkOptions o) : api_(api), o_(std::move(o)) {}
  TextLimit text_limit() const override {
    return MastodonTextLimit(o_.max_characters, o_.characters_per_url);
  }

  absl::StatusOr<PreparedRequest> Prepare(const Detection& d, const std::string& text,
                                          absl::Time) const override {
    // The body is built from the text and this destination's fixed options,
    // so the stored text is the request.
    return PreparedRequest{MastodonIdempotencyKey(d.detection_id), text};
  }

  AttemptResult Attempt(const std::string&, const PreparedRequest& req, bool resumed,
                        absl::Time first_sent_at, absl::Time now, bool) override {
    if (resumed) {
      if (now - first_sent_at > o_.key_window) {
        return Failed(absl::StrCat(
            "outcome unknown: the first attempt (", iss::FormatRfc3339Micros(first_sent_at),
            ") is older than the Idempotency-Key window; check the account's posts"));
      }
      if (now - first_sent_at < o_.resend_delay) {
        AttemptResult wait = Retry("waiting before re-sending with the same Idempotency-Key",
                                   /*may_have_arrived=*/true);
        wait.retry_at = first_sent_at + o_.resend_delay;
        return wait;
      }
    }
    auto r = PostStatus(req.request, req.idempotency_key);
    if (!r.ok()) {
      if (absl::IsInvalidArgument(r.status())) return Failed(r.status().ToString());
      return TransportFailure(r.status());
    }
    if (r->ok()) return Posted(r->status_id);
    const std::string what =
        absl::StrCat("Mastodon answered ", r->http_status, ": ", Head(r->error));
    if (r->rate_limited()) return RateLimited(what, r->rate_limit.reset);
    if (r->http_status >= 500) return Retry(what, ServerMayHaveActed(r->http_status));
    if (r->http_status == 408) return Retry(what, true);
    return Failed(what);  // 401, 403 (scope), 422 (text)
  }

  AttemptResult TestPost(const std::string& text, absl::Time now) override {
    auto r = PostStatus(text, absl::StrCat("peebot-test-", absl::ToUnixMicros(now)));
    if (!r.ok()) return Failed(r.status().ToString());
    if (r->ok()) return Posted(r->status_id);
    return Failed(absl::StrCat("Mastodon answered ", r->http_status, ": ", Head(r->error)));
  }

 private:
  // A status with this destination's fixed visibility and language.
  absl::StatusOr<MastodonResult> PostStatus(const std::string& text, const std::string& key) {
    MastodonStatusRequest m;
    m.text = text;
    m.visibility = o_.visibility;
    m.language = o_.language;
    m.idempotency_key = key;
    return api_->PostStatus(m);
  }
  MastodonApi* api_;
  const MastodonNetworkOptions o_;
};

// --- Webhook -------------------------------------------------------------------

class WebhookNetwork final : public Network {
 public:
  explicit WebhookNetwork(WebhookApi* api) : api_(api) {}
  // Discord's `content` takes 2000 characters; our texts are far shorter.
  TextLimit text_limit() const override {
    TextLimit l;
    l.unit = TextLimit::Unit::kCodePoints;
    l.max_units = 2000;
    return l;
  }

  absl::StatusOr<PreparedRequest> Prepare(const Detection& d, const std::string& text,
                                          absl::Time) const override {
    return PreparedRequest{WebhookId(d.detection_id), WebhookPayload(d, text)};
  }

  AttemptResult Attempt(const std::string&, const PreparedRequest& req, bool, absl::Time,
                        absl::Time now, bool) override {
    // Receivers dedupe on webhook-id: a re-send is the same delivery.
    return FromResult(api_->Deliver(req.idempotency_key, req.request), req.idempotency_key, now);
  }

  AttemptResult TestPost(const std::string& text, absl::Time now) override {
    Detection d;
    d.detection_id = absl::StrCat("test", absl::ToUnixMicros(now));
    d.item_id = "test";
    d.start_time = d.end_time = now;
    const std::string id = WebhookId(d.detection_id);
    AttemptResult r = FromResult(api_->Deliver(id, WebhookPayload(d, text)), id, now);
    if (r.kind != AttemptResult::Kind::kPosted) r.kind = AttemptResult::Kind::kFailed;
    return r;
  }

 private:
  static AttemptResult FromResult(const absl::StatusOr<WebhookResult>& r, const std::string& id,
                                  absl::Time now) {
    if (!r.ok()) {
      if (absl::IsInvalidArgument(r.status())) return Failed(r.status().ToString());
      return TransportFailure(r.status());
    }
    if (r->ok()) return Posted(id);
    const std::string what = absl::StrCat("webhook answered ", r->http_status, ": ", r->body);
    if (r->rate_limited()) {
      return RateLimited(
          what, r->retry_after ? std::optional<absl::Time>(now + *r->retry_after) : std::nullopt);
    }
    if (r->http_status >= 500) return Retry(what, ServerMayHaveActed(r->http_status));
    if (r->http_status == 408) return Retry(what, true);
    return Failed(what);  // 3xx (not followed), 400, 401, 404, 410 (gone)
  }
  WebhookApi* api_;
};

}  // namespace

std::unique_ptr<Network> MakeBlueskyNetwork(BlueskyApi* api) {
  return std::make_unique<BlueskyNetwork>(api);
}
std::unique_ptr<Network> MakeMastodonNetwork(MastodonApi* api, MastodonNetworkOptions options) {
  return std::make_unique<MastodonNetwork>(api, std::move(options));
}
std::unique_ptr<Network> MakeWebhookNetwork(WebhookApi* api) {
  return std::make_unique<WebhookNetwork>(api);
}

}  // namespace iss::peebot
