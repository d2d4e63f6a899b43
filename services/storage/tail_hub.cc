#include "services/storage/tail_hub.h"

namespace iss::storage {

TailHub::~TailHub() { Close(); }

std::unique_ptr<TailHub::Subscription> TailHub::Subscribe(
    const std::vector<std::string>& item_ids) {
  std::unique_ptr<Subscription> sub(new Subscription(this, item_ids, buffer_));
  absl::MutexLock lock(&mu_);
  if (closed_) {
    absl::MutexLock sub_lock(&sub->mu_);
    sub->state_ = Subscription::State::kClosed;
    sub->hub_ = nullptr;
    return sub;
  }
  subs_.push_back(sub.get());
  return sub;
}

void TailHub::Publish(const std::vector<EventPtr>& events) {
  if (events.empty()) return;
  absl::MutexLock lock(&mu_);
  for (Subscription* sub : subs_) {
    absl::MutexLock sub_lock(&sub->mu_);
    if (sub->state_ != Subscription::State::kOpen) continue;
    for (const EventPtr& e : events) {
      if (!sub->Wants(e->item_id())) continue;
      sub->Push(e);
      if (sub->state_ == Subscription::State::kDropped) {
        ++dropped_;
        break;
      }
    }
  }
}

void TailHub::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  for (Subscription* sub : subs_) {
    absl::MutexLock sub_lock(&sub->mu_);
    if (sub->state_ == Subscription::State::kOpen) sub->state_ = Subscription::State::kClosed;
    sub->hub_ = nullptr;
  }
  subs_.clear();
}

size_t TailHub::subscribers() const {
  absl::MutexLock lock(&mu_);
  return subs_.size();
}

uint64_t TailHub::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

void TailHub::Remove(Subscription* sub) {
  absl::MutexLock lock(&mu_);
  subs_.remove(sub);
}

TailHub::Subscription::Subscription(TailHub* hub, std::vector<std::string> item_ids,
                                    size_t capacity)
    : hub_(hub), items_(item_ids.begin(), item_ids.end()), capacity_(capacity) {}

TailHub::Subscription::~Subscription() {
  TailHub* hub = nullptr;
  {
    absl::MutexLock lock(&mu_);
    hub = hub_;
  }
  // Close() may run concurrently and clear hub_ after we read it; Remove() on a
  // list that no longer holds us is harmless, and the hub outlives its streams.
  if (hub != nullptr) hub->Remove(this);
}

bool TailHub::Subscription::Wants(const std::string& item_id) const {
  return items_.empty() || items_.contains(item_id);
}

void TailHub::Subscription::Push(const EventPtr& event) {
  if (queue_.size() >= capacity_) {
    queue_.clear();
    state_ = State::kDropped;
    return;
  }
  queue_.push_back(event);
}

TailHub::Subscription::State TailHub::Subscription::Next(std::vector<EventPtr>* out,
                                                         absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || state_ != State::kOpen;
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (state_ == State::kOpen) {
    for (EventPtr& e : queue_) out->push_back(std::move(e));
    queue_.clear();
  }
  return state_;
}

}  // namespace iss::storage
