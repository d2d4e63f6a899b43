#include "services/peebot/testing/fake_api.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
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

void FakeRateWindows::AddHeaders(FakeHttpResponse* res, const std::string& account, int limit,
                                 std::optional<absl::Time> reset, std::optional<int> remaining) {
  const Window& w = For(account);
  res->headers.emplace_back(prefix_ + "Limit", absl::StrCat(limit));
  res->headers.emplace_back(prefix_ + "Remaining",
                            absl::StrCat(remaining.value_or(std::max(0, limit - w.used))));
  res->headers.emplace_back(prefix_ + "Reset", format_reset_(reset.value_or(Reset(w))));
}

}  // namespace iss::peebot::testing
