// Owns: a fake webhook receiver for tests (and the e2e suite, via
// iss-fake-social) that does what the Standard Webhooks spec asks of a
// receiver: POST to its path only (404 elsewhere, 405 for other methods), a
// JSON body (400 otherwise), the signature over the raw bytes with one of its
// secrets and a timestamp within the tolerance (401 otherwise; without
// secrets nothing is checked, like a chat webhook), and dedupe on webhook-id
// when asked (a repeat still gets 2xx but is not processed again).
//
// Scripted faults (Push), applied to deliveries that passed verification: a
// status instead of 204 (5xx, 410, 429 with Retry-After), a delay, a dropped
// connection, and "accept then drop/fail" (processed, answer lost).
// GET /_fake/received lists the processed deliveries (for the e2e suite).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/peebot/testing/fake_api.h"
#include "services/peebot/testing/fake_http_server.h"

namespace iss::peebot::testing {

struct FakeWebhookDelivery {
  std::string webhook_id;
  int64_t timestamp = 0;
  std::string body;
  std::string idempotency_key;
  bool duplicate = false;  // the webhook-id was seen before
};

struct FakeWebhookState;  // fake_webhook_receiver.cc

class FakeWebhookReceiver : public FakeApi<FakeWebhookState> {
 public:
  struct Options {
    std::vector<std::string> secrets;  // "whsec_…"; empty = no verification
    bool dedupe = true;
    absl::Duration tolerance = absl::Minutes(5);
    std::string path = "/hook";
  };

  static absl::StatusOr<std::unique_ptr<FakeWebhookReceiver>> Start(
      Options options, const std::string& address = "127.0.0.1:0", bool tls = false);
  ~FakeWebhookReceiver();

  std::string url() const;  // base_url() + path

  void Push(FakeReply reply);
  void set_dedupe(bool dedupe);

  // Verified deliveries, repeats included (flagged), in order.
  std::vector<FakeWebhookDelivery> deliveries() const;
  // What the receiver acted on: without dedupe every verified delivery, with
  // dedupe the first of each webhook-id.
  std::vector<FakeWebhookDelivery> processed() const;
  int rejected() const;                         // refused deliveries (400, 401, 413)
  std::vector<int> answers() const;             // every POST's answer (0 = dropped)
  std::vector<std::string> rejections() const;  // why, for 401s

 private:
  FakeWebhookReceiver() = default;
};

}  // namespace iss::peebot::testing
