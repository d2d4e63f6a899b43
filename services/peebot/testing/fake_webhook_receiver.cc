#include "services/peebot/testing/fake_webhook_receiver.h"

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "services/peebot/webhook_client.h"

namespace iss::peebot::testing {
namespace {

FakeHttpResponse Answer(int status, const std::string& message) {
  return FakeHttpResponse::Json(status, {{"message", message}});
}

}  // namespace

struct FakeWebhookState {
  FakeWebhookReceiver::Options options;
  std::vector<std::string> keys;

  FakeScript script;  // one queue
  mutable absl::Mutex mu;
  std::vector<FakeWebhookDelivery> deliveries ABSL_GUARDED_BY(mu);
  std::vector<bool> processed ABSL_GUARDED_BY(mu);  // parallel to deliveries
  std::set<std::string> seen ABSL_GUARDED_BY(mu);
  std::vector<int> answers ABSL_GUARDED_BY(mu);
  std::vector<std::string> rejections ABSL_GUARDED_BY(mu);
  bool dedupe ABSL_GUARDED_BY(mu) = true;

  FakeHttpResponse Serve(const FakeHttpRequest& req) {
    if (req.path == "/_fake/received" && req.method == "GET") return Received();
    if (req.path != options.path) return Answer(404, "no such hook");
    if (req.method != "POST") return Answer(405, "POST only");
    FakeHttpResponse res = Handle(req);
    absl::MutexLock lock(&mu);
    answers.push_back(res.drop ? 0 : res.status);
    return res;
  }

  FakeHttpResponse Reject(int status, const std::string& why) {
    absl::MutexLock lock(&mu);
    rejections.push_back(why);
    return Answer(status, why);
  }

  FakeHttpResponse Handle(const FakeHttpRequest& req) {
    if (req.body_too_large) return Reject(413, "body too large");
    const std::string id = req.Header("webhook-id");
    const std::string ts = req.Header("webhook-timestamp");
    if (!keys.empty()) {
      absl::Status ok = VerifyWebhook(keys, id, ts, req.Header("webhook-signature"), req.body,
                                      absl::Now(), options.tolerance);
      if (!ok.ok()) return Reject(401, std::string(ok.message()));
    }
    if (!nlohmann::json::parse(req.body, nullptr, false).is_object()) {
      return Reject(400, "body must be a JSON object");
    }
    absl::MutexLock lock(&mu);
    const std::optional<FakeReply> fault = script.Next("");
    const bool replaces = fault && fault->replaces();
    if (replaces && !fault->accept_anyway) return Fault(*fault);
    FakeWebhookDelivery d;
    d.webhook_id = id;
    absl::SimpleAtoi(ts, &d.timestamp);
    d.body = req.body;
    d.idempotency_key = req.Header("idempotency-key");
    d.duplicate = !id.empty() && !seen.insert(id).second;
    deliveries.push_back(d);
    processed.push_back(!d.duplicate || !dedupe);
    if (replaces) return Fault(*fault);
    FakeHttpResponse res = FakeHttpResponse::Text(204, "", "");
    if (fault) res.delay = fault->delay;
    return res;
  }

  static FakeHttpResponse Fault(const FakeReply& r) {
    FakeHttpResponse res =
        r.drop ? FakeHttpResponse::Drop() : Answer(r.status, absl::StrCat("scripted ", r.status));
    if (r.retry_after_seconds) {
      res.headers.emplace_back("Retry-After", absl::StrCat(*r.retry_after_seconds));
    }
    res.delay = r.delay;
    return res;
  }

  std::vector<FakeWebhookDelivery> Processed() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::vector<FakeWebhookDelivery> out;
    for (size_t i = 0; i < deliveries.size(); ++i) {
      if (processed[i]) out.push_back(deliveries[i]);
    }
    return out;
  }

  FakeHttpResponse Received() {
    absl::MutexLock lock(&mu);
    nlohmann::json list = nlohmann::json::array();
    for (const FakeWebhookDelivery& d : Processed()) {
      list.push_back({{"webhook_id", d.webhook_id}, {"body", d.body}});
    }
    return FakeHttpResponse::Json(200, {{"deliveries", list}});
  }
};

absl::StatusOr<std::unique_ptr<FakeWebhookReceiver>> FakeWebhookReceiver::Start(
    Options options, const std::string& address, bool tls) {
  auto state = std::make_unique<FakeWebhookState>();
  for (const std::string& secret : options.secrets) {
    auto key = DecodeWebhookSecret(secret);
    if (!key.ok()) return key.status();
    state->keys.push_back(*std::move(key));
  }
  {
    absl::MutexLock lock(&state->mu);  // not shared yet; the lock costs nothing and says so
    state->dedupe = options.dedupe;
  }
  state->options = std::move(options);
  std::unique_ptr<FakeWebhookReceiver> server(new FakeWebhookReceiver());
  if (absl::Status s = server->Listen(std::move(state), address, tls, "fake-webhook"); !s.ok()) {
    return s;
  }
  return server;
}

FakeWebhookReceiver::~FakeWebhookReceiver() = default;

std::string FakeWebhookReceiver::url() const { return base_url() + state().options.path; }

void FakeWebhookReceiver::Push(FakeReply reply) { state().script.Push("", reply); }
void FakeWebhookReceiver::set_dedupe(bool dedupe) { Set(&FakeWebhookState::dedupe, dedupe); }

std::vector<FakeWebhookDelivery> FakeWebhookReceiver::deliveries() const {
  return Get(&FakeWebhookState::deliveries);
}

std::vector<FakeWebhookDelivery> FakeWebhookReceiver::processed() const {
  absl::MutexLock lock(&state().mu);
  return state().Processed();
}

int FakeWebhookReceiver::rejected() const { return static_cast<int>(rejections().size()); }
std::vector<int> FakeWebhookReceiver::answers() const { return Get(&FakeWebhookState::answers); }
std::vector<std::string> FakeWebhookReceiver::rejections() const {
  return Get(&FakeWebhookState::rejections);
}

}  // namespace iss::peebot::testing
