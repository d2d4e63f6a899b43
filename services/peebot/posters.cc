#include "services/peebot/posters.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace iss::peebot {

absl::StatusOr<NetworkClients> CreateNetworkClients(const PeeBotConfig& c) {
  NetworkClients clients;
  const auto invalid = [](const char* what, const absl::Status& s) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", s.message()));
  };
  if (c.x.credentials.complete()) {
    auto x = XClient::Create(c.x);
    if (!x.ok()) return invalid("bad X API configuration", x.status());
    clients.x = *std::move(x);
  }
  if (c.Wants(kDestinationBluesky) && !c.bluesky.identifier.empty() &&
      !c.bluesky.app_password.empty()) {
    auto b = BlueskyClient::Create(c.bluesky);
    if (!b.ok()) return invalid("bad Bluesky configuration", b.status());
    clients.bluesky = *std::move(b);
  }
  if (c.Wants(kDestinationMastodon) && !c.mastodon.instance_url.empty() &&
      !c.mastodon.access_token.empty()) {
    auto m = MastodonClient::Create(c.mastodon);
    if (!m.ok()) return invalid("bad Mastodon configuration", m.status());
    clients.mastodon = *std::move(m);
  }
  if (c.Wants(kDestinationWebhook) && !c.webhook.url.empty()) {
    auto w = WebhookClient::Create(c.webhook);
    if (!w.ok()) return invalid("bad webhook configuration", w.status());
    clients.webhook = *std::move(w);
  }
  return clients;
}

Posters::Posters(const PeeBotConfig& c, NetworkClients clients, RuntimeSettings* settings,
                 Health* health)
    : clients_(std::move(clients)), settings_(settings) {
  // X keeps its own poster (and table), sharing the per-detection decision.
  health->Declare("x_api", /*required=*/false);
  health->Set("x_api", clients_.x != nullptr,
              clients_.x ? "configured" : "no credentials: dry-run");
  PosterOptions o;
  o.max_post_age = c.max_post_age;
  o.shared_admission = true;
  o.destinations = c.destinations;
  o.dry_run = c.x_dry_run;
  stores_.push_back(std::make_unique<Store>(c.dsn));
  x_poster_ =
      std::make_unique<Poster>(stores_.back().get(), clients_.x.get(), settings, &clock_, o);
  x_poster_->OnHealthChange([health](const std::string& h) { health->Set("x_api", h == "ok", h); });
  if (c.Wants(kDestinationX)) {
    loops_.push_back(std::make_unique<PosterLoop>(x_poster_.get(), &clock_, absl::Seconds(5)));
  }
  if (c.Wants(kDestinationBluesky)) {
    AddDestination(c, kDestinationBluesky,
                   clients_.bluesky ? MakeBlueskyNetwork(clients_.bluesky.get()) : nullptr,
                   c.bluesky_destination, health);
  }
  if (c.Wants(kDestinationMastodon)) {
    std::unique_ptr<Network> network;
    if (clients_.mastodon) {
      MastodonNetworkOptions mo;
      mo.visibility = c.mastodon_visibility;
      // The instance's own length rule; the default (500) when it does not say.
      if (auto limits = clients_.mastodon->GetInstanceLimits(); limits.ok()) {
        mo.max_characters = limits->max_characters;
        mo.characters_per_url = limits->characters_reserved_per_url;
      } else {
        log::Warn("cannot read the Mastodon instance's limits: assuming 500 characters",
                  {{"error", limits.status().ToString()}});
      }
      network = MakeMastodonNetwork(clients_.mastodon.get(), mo);
    }
    AddDestination(c, kDestinationMastodon, std::move(network), c.mastodon_destination, health);
  }
  if (c.Wants(kDestinationWebhook)) {
    AddDestination(c, kDestinationWebhook,
                   clients_.webhook ? MakeWebhookNetwork(clients_.webhook.get()) : nullptr,
                   c.webhook_destination, health);
  }
}

void Posters::AddDestination(const PeeBotConfig& c, const std::string& name,
                             std::unique_ptr<Network> network, const DestinationConfig& d,
                             Health* health) {
  DestinationOptions o;
  o.name = name;
  o.dry_run = d.dry_run;
  o.daily_cap = static_cast<int>(d.daily_cap);
  o.max_post_age = c.max_post_age;
  o.destinations = c.destinations;
  stores_.push_back(std::make_unique<Store>(c.dsn));
  Network* net = network.get();
  if (network) networks_.push_back(std::move(network));
  auto p = std::make_unique<DestinationPoster>(stores_.back().get(), net, settings_, &clock_, o);
  const std::string check = absl::StrCat(name, "_api");
  health->Declare(check, /*required=*/false);
  health->Set(check, net != nullptr, net ? "configured" : "no credentials: dry-run");
  p->OnHealthChange([health, check](const std::string& h) { health->Set(check, h == "ok", h); });
  if (!net) log::Warn("destination without credentials: dry-run", {{"destination", name}});
  DestinationPoster* dp = p.get();
  loops_.push_back(
      std::make_unique<PosterLoop>([dp] { return dp->RunOnce(); }, &clock_, absl::Seconds(1)));
  destination_posters_.push_back(std::move(p));
}

Posters::~Posters() { Stop(); }

void Posters::Start() {
  for (auto& l : loops_) l->Start();
}

void Posters::Notify() {
  for (auto& l : loops_) l->Notify();
}

void Posters::Stop() {
  for (auto& l : loops_) l->Stop();
}

std::vector<DestinationPoster*> Posters::destinations() const {
  std::vector<DestinationPoster*> out;
  for (const auto& p : destination_posters_) out.push_back(p.get());
  return out;
}

}  // namespace iss::peebot
