// Owns: each network's side of one delivery beside X: the request fixed
// before the first send (Prepare), and what one attempt's answer means in the
// poster's terms (Attempt), including how an unknown outcome is settled on
// that network (destinations.h says how, per network). The DestinationPoster
// (destinations.h) owns the rest: rows, retries, caps, pauses, health.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/peebot/bluesky_client.h"
#include "services/peebot/detector.h"
#include "services/peebot/mastodon_client.h"
#include "services/peebot/text_limits.h"
#include "services/peebot/webhook_client.h"

namespace iss::peebot {

// What one attempt on a network came to, in the poster's terms.
struct AttemptResult {
  // kStale: the earlier attempt did not land and the detection is past the
  // freshness limit, so it is not created now.
  enum class Kind { kPosted, kRetry, kRateLimited, kFailed, kStale };
  Kind kind = Kind::kRetry;
  std::string post_id;  // kPosted
  std::string error;
  std::optional<absl::Time> retry_at;  // kRateLimited: when the network allows again
  // kRetry: the request may have created a post (timeout, dropped answer,
  // 500): the next attempt must find out rather than create another.
  bool may_have_arrived = false;
};

// The request of one delivery, fixed once and stored.
struct PreparedRequest {
  std::string idempotency_key;  // record key, Idempotency-Key, webhook-id
  std::string request;          // record JSON, status text, webhook body
};

// One network, as the DestinationPoster sees it.
class Network {
 public:
  virtual ~Network() = default;
  virtual TextLimit text_limit() const = 0;
  virtual absl::StatusOr<PreparedRequest> Prepare(const Detection& d, const std::string& text,
                                                  absl::Time now) const = 0;
  // One attempt with the stored request. `resumed`: an earlier attempt's
  // outcome is unknown. `first_sent_at`: when the first attempt was made.
  // `fresh`: the detection is inside the freshness limit (a network that can
  // look up an unknown outcome creates nothing once it is not).
  virtual AttemptResult Attempt(const std::string& text, const PreparedRequest& request,
                                bool resumed, absl::Time first_sent_at, absl::Time now,
                                bool fresh) = 0;
  // An admin's test post (no detection, no exactly-once bookkeeping).
  virtual AttemptResult TestPost(const std::string& text, absl::Time now) = 0;
};

std::unique_ptr<Network> MakeBlueskyNetwork(BlueskyApi* api);
struct MastodonNetworkOptions {
  std::string visibility = "public";
  std::string language = "en";
  size_t max_characters = 500;
  size_t characters_per_url = 23;
  // A re-send with the same Idempotency-Key is trusted this long after the
  // first send (Mastodon keeps keys an hour)...
  absl::Duration key_window = absl::Minutes(55);
  // ...and not sooner than this after it: servers before mastodon PR #37879
  // create a duplicate when the repeat arrives while the first is processed.
  absl::Duration resend_delay = absl::Seconds(30);
};
std::unique_ptr<Network> MakeMastodonNetwork(MastodonApi* api, MastodonNetworkOptions options = {});
std::unique_ptr<Network> MakeWebhookNetwork(WebhookApi* api);

}  // namespace iss::peebot
