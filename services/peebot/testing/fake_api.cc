#include "services/peebot/testing/fake_api.h"

#include "absl/time/clock.h"

namespace iss::peebot::testing {

void FakeScript::Push(const std::string& call, FakeReply reply) {
  absl::MutexLock lock(&mu_);
  queues_[call].push_back(reply);
}

std::optional<FakeReply> FakeScript::Next(const std::string& call) {
  absl::MutexLock lock(&mu_);
  auto& q = queues_[call];
  if (q.empty()) return std::nullopt;
  FakeReply r = q.front();
  q.pop_front();
  return r;
}

FakeRateWindows::Window& FakeRateWindows::For(const std::string& account) {
  Window& w = windows_[account];
  const int64_t number = absl::ToUnixSeconds(absl::Now()) / seconds_;
  if (w.number != number) w = Window{number, 0};
  return w;
}

}  // namespace iss::peebot::testing
