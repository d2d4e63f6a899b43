// Owns: the service's view of its own health, fed by its components.
//
// Each dependency (broker, database, upstream feed) reports up/down with a
// reason. The service is SERVING when every *required* dependency is up.
// GrpcServer mirrors this into grpc.health.v1 (overall "" and per service
// name); OpsServer answers /healthz (process alive) and /readyz from it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace iss {

class Health {
 public:
  struct Dependency {
    std::string name;
    bool required = true;
    bool up = false;
    std::string detail;
    absl::Time since;
  };

  // Declares a dependency, initially down ("not checked yet").
  void Declare(const std::string& name, bool required = true);
  // Reports a dependency's state; unchanged states cost nothing.
  void Set(const std::string& name, bool up, const std::string& detail = "");
  // During shutdown the service stops serving whatever its dependencies say.
  void SetShuttingDown();

  bool Serving() const;
  std::vector<Dependency> Snapshot() const;
  // JSON body for /readyz: {"status":"SERVING","dependencies":[...]}.
  std::string ToJson() const;

  // Called (outside the lock) whenever Serving() may have changed.
  void OnChange(std::function<void(bool serving)> listener);

 private:
  void Notify();
  mutable absl::Mutex mu_;
  absl::btree_map<std::string, Dependency> deps_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::function<void(bool)>> listeners_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iss
