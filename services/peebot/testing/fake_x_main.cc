// iss-fake-x: the fake X API as a program, for the e2e suite and local runs.
// Prints `listening <port>` (and `ca_file <path>` with TLS) once ready and
// serves until SIGTERM/SIGINT.
#include <cstdio>

#include "common/config.h"
#include "common/log.h"
#include "common/shutdown.h"
#include "services/peebot/testing/fake_x_server.h"

int main(int argc, char** argv) {
  iss::InstallShutdownSignals();
  iss::EnvConfig config("fake-x");
  const std::string* addr = config.Address("ISS_FAKE_X_ADDR", "127.0.0.1:0",
                                           "Where the fake X API listens (port 0 = ephemeral)");
  const std::string* ck = config.String("ISS_X_CONSUMER_KEY", "fake-consumer-key",
                                        "Consumer key requests must be signed with");
  const std::string* cs = config.String("ISS_X_CONSUMER_SECRET", "fake-consumer-secret",
                                        "Consumer secret", /*secret=*/true);
  const std::string* tk =
      config.String("ISS_X_ACCESS_TOKEN", "fake-access-token", "Access token requests must carry");
  const std::string* ts = config.String("ISS_X_ACCESS_TOKEN_SECRET", "fake-token-secret",
                                        "Access token secret", /*secret=*/true);
  const bool* tls = config.Bool("ISS_FAKE_X_TLS", false,
                                "Serve HTTPS with a fresh self-signed certificate (path printed)");
  config.LoadOrExit(argc, argv);
  iss::log::Init("fake-x", iss::log::Level::kInfo);
  auto server = iss::peebot::testing::FakeXServer::Start({*ck, *cs, *tk, *ts}, *addr, *tls);
  if (!server.ok()) {
    iss::log::Error("cannot start", {{"error", server.status().ToString()}});
    return 1;
  }
  std::printf("listening %d\n", (*server)->port());
  if (*tls) std::printf("ca_file %s\n", (*server)->ca_file().c_str());
  std::fflush(stdout);
  iss::log::Info("fake X API ready", {{"port", (*server)->port()}});
  iss::WaitForShutdown();
  return 0;
}
