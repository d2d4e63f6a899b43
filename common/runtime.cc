#include "common/runtime.h"

#include "absl/synchronization/mutex.h"

namespace iss {

void ConfigureServiceRuntime() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace iss
