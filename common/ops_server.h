// Owns: the small plain-HTTP operations endpoint every service runs
// (Boost.Beast): GET /healthz (liveness: 200 while the process runs),
// GET /readyz (200 when Health says SERVING, else 503, JSON body), and
// GET /metrics (Prometheus text format from metrics::Registry()).
// Anything else: 404. Bodies are not accepted. One thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/health.h"

namespace iss {

// The answer to a GET of an ops endpoint, whoever serves it (OpsServer; the
// gateway on its public port): nullopt when `path` is not one.
struct OpsAnswer {
  int status = 200;
  std::string content_type;
  std::string body;
};
std::optional<OpsAnswer> AnswerOps(std::string_view path, const Health& health);

class OpsServer {
 public:
  // Binds `address` ("127.0.0.1:9464"; port 0 = ephemeral) and starts serving.
  static absl::StatusOr<std::unique_ptr<OpsServer>> Start(const std::string& address,
                                                          Health* health);
  ~OpsServer();  // stops and joins
  int port() const;

 private:
  struct Impl;
  explicit OpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace iss
