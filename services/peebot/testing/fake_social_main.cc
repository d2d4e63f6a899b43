// iss-fake-social: the fake Bluesky PDS, Mastodon instance and webhook
// receiver as one program, for the e2e suite and local runs. Starts the
// networks listed in ISS_FAKE_SOCIAL_NETWORKS, prints `listening <network>
// <port>` for each (and `ca_file <network> <path>` with TLS) once all are
// ready (and writes their addresses to ISS_ADDRESS_FILE, common/address_file.h),
// and serves until SIGTERM/SIGINT. Each fake lists what it received at
// GET /_fake/received.
#include <cstdio>
#include <memory>
#include <set>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/address_file.h"
#include "common/config.h"
#include "common/log.h"
#include "common/shutdown.h"
#include "services/peebot/testing/fake_bluesky_server.h"
#include "services/peebot/testing/fake_mastodon_server.h"
#include "services/peebot/testing/fake_webhook_receiver.h"

namespace {

using namespace iss::peebot::testing;  // NOLINT: a test program

void Announce(const char* network, int port, const std::string& ca_file) {
  std::printf("listening %s %d\n", network, port);
  if (!ca_file.empty()) std::printf("ca_file %s %s\n", network, ca_file.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  iss::InstallShutdownSignals();
  iss::EnvConfig config("fake-social");
  const std::string* networks =
      config.String("ISS_FAKE_SOCIAL_NETWORKS", "bluesky,mastodon,webhook",
                    "Comma-separated fakes to start: bluesky, mastodon, webhook");
  const bool* tls = config.Bool("ISS_FAKE_SOCIAL_TLS", false,
                                "Serve HTTPS with fresh self-signed certificates (paths printed)");
  const std::string* bsky_addr =
      config.Address("ISS_FAKE_BLUESKY_ADDR", "127.0.0.1:0", "Where the fake Bluesky PDS listens");
  const std::string* bsky_handle =
      config.String("ISS_FAKE_BLUESKY_HANDLE", "peebot.test", "The account's handle");
  const std::string* bsky_did =
      config.String("ISS_FAKE_BLUESKY_DID", "did:plc:peebotfake0000000000000", "The account's DID");
  const std::string* bsky_password = config.String("ISS_FAKE_BLUESKY_PASSWORD", "app-pass-word",
                                                   "The account's app password", /*secret=*/true);
  const std::string* bsky_conflict =
      config.Enum("ISS_FAKE_BLUESKY_CONFLICT", "500", {"500", "already-exists"},
                  "Answer to createRecord on an existing rkey: 500 (today's PDS) or 400 "
                  "RecordAlreadyExists");
  const std::string* masto_addr = config.Address("ISS_FAKE_MASTODON_ADDR", "127.0.0.1:0",
                                                 "Where the fake Mastodon instance listens");
  const std::string* masto_token =
      config.String("ISS_FAKE_MASTODON_TOKEN", "fake-mastodon-token",
                    "The bearer token the account posts with", /*secret=*/true);
  const int64_t* masto_max = config.Int("ISS_FAKE_MASTODON_MAX_CHARACTERS", 500, 1, 100000,
                                        "The instance's max_characters");
  const std::string* masto_idem =
      config.Enum("ISS_FAKE_MASTODON_IDEMPOTENCY", "replay", {"replay", "repeat-500", "ignored"},
                  "A repeated Idempotency-Key: the first status, 500 (mastodon #40399), or a new "
                  "status");
  const std::string* hook_addr = config.Address("ISS_FAKE_WEBHOOK_ADDR", "127.0.0.1:0",
                                                "Where the fake webhook receiver listens");
  const std::string* hook_path =
      config.String("ISS_FAKE_WEBHOOK_PATH", "/hook", "The receiver's path");
  const std::string* hook_secret = config.String(
      "ISS_FAKE_WEBHOOK_SECRET", "whsec_ZmFrZS13ZWJob29rLXNlY3JldC1rZXk=",
      "Standard Webhooks secret (whsec_<base64>) deliveries must be signed with; empty = none",
      /*secret=*/true);
  const bool* hook_dedupe = config.Bool("ISS_FAKE_WEBHOOK_DEDUPE", true,
                                        "Process each webhook-id once (repeats still get 2xx)");
  std::string address_file;
  iss::BindAddressFile(config, &address_file);
  config.LoadOrExit(argc, argv);
  iss::log::Init("fake-social", iss::log::Level::kInfo);

  std::set<std::string> wanted;
  for (absl::string_view n : absl::StrSplit(*networks, ',', absl::SkipWhitespace())) {
    wanted.insert(std::string(n));
  }
  for (const std::string& n : wanted) {
    if (n != "bluesky" && n != "mastodon" && n != "webhook") {
      iss::log::Error("ISS_FAKE_SOCIAL_NETWORKS names an unknown network", {{"network", n}});
      return 2;
    }
  }
  auto fail = [](const char* what, const absl::Status& s) {
    iss::log::Error("cannot start", {{"fake", what}, {"error", s.ToString()}});
    return 1;
  };
  std::unique_ptr<FakeBlueskyServer> bluesky;
  std::unique_ptr<FakeMastodonServer> mastodon;
  std::unique_ptr<FakeWebhookReceiver> webhook;
  if (wanted.count("bluesky")) {
    FakeBlueskyAccount account{*bsky_handle, *bsky_did, *bsky_password};
    auto s = FakeBlueskyServer::Start({account}, *bsky_addr, *tls);
    if (!s.ok()) return fail("bluesky", s.status());
    bluesky = std::move(*s);
    bluesky->set_conflict_answer_already_exists(*bsky_conflict == "already-exists");
  }
  if (wanted.count("mastodon")) {
    FakeMastodonAccount account;
    account.token = *masto_token;
    auto s = FakeMastodonServer::Start({account}, *masto_addr, *tls);
    if (!s.ok()) return fail("mastodon", s.status());
    mastodon = std::move(*s);
    mastodon->set_max_characters(static_cast<int>(*masto_max));
    mastodon->set_idempotency(*masto_idem == "replay" ? FakeMastodonServer::Idempotency::kReplay
                              : *masto_idem == "repeat-500"
                                  ? FakeMastodonServer::Idempotency::kRepeat500
                                  : FakeMastodonServer::Idempotency::kIgnored);
  }
  if (wanted.count("webhook")) {
    FakeWebhookReceiver::Options options;
    if (!hook_secret->empty()) options.secrets = {*hook_secret};
    options.dedupe = *hook_dedupe;
    options.path = *hook_path;
    auto s = FakeWebhookReceiver::Start(options, *hook_addr, *tls);
    if (!s.ok()) return fail("webhook", s.status());
    webhook = std::move(*s);
  }
  if (bluesky) Announce("bluesky", bluesky->port(), bluesky->ca_file());
  if (mastodon) Announce("mastodon", mastodon->port(), mastodon->ca_file());
  if (webhook) Announce("webhook", webhook->port(), webhook->ca_file());
  std::fflush(stdout);
  std::vector<iss::BoundListener> bound;
  if (bluesky) bound.push_back({"bluesky", *bsky_addr, bluesky->port()});
  if (mastodon) bound.push_back({"mastodon", *masto_addr, mastodon->port()});
  if (webhook) bound.push_back({"webhook", *hook_addr, webhook->port()});
  iss::WriteAddressFileOrExit(address_file, bound);
  iss::log::Info("fake social networks ready", {{"networks", *networks}});
  iss::WaitForShutdown();
  return 0;
}
