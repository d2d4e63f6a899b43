// Owns: what every fake network API of Pee-Bot's tests shares around its own
// protocol (fake_bluesky_server.h, fake_mastodon_server.h,
// fake_webhook_receiver.h, fake_x_server.h): hosting its state behind the
// one FakeHttpServer transport, the accessors a test uses, one field of the
// state read or changed under the state's lock, the queue of scripted replies
// and the fixed rate-limit windows the networks count in.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/peebot/testing/fake_http_server.h"

namespace iss::peebot::testing {

// A fake's state: `State` has `absl::Mutex mu` and answers each request with
// `FakeHttpResponse Serve(const FakeHttpRequest&)` on the transport's thread.
// The derived fake defines its destructor where State is complete.
template <typename State>
class FakeApi {
 public:
  int port() const { return http_->port(); }
  std::string base_url() const { return http_->base_url(); }       // http(s)://127.0.0.1:<port>
  const std::string& ca_file() const { return http_->ca_file(); }  // PEM; empty without TLS

 protected:
  FakeApi() = default;
  ~FakeApi() = default;  // http_ first (joins its thread), then the state it calls into

  // Serves `state` on `address` (port 0 = ephemeral); `name` in errors.
  absl::Status Listen(std::unique_ptr<State> state, const std::string& address, bool tls,
                      const std::string& name) {
    state_ = std::move(state);
    State* s = state_.get();
    auto http = FakeHttpServer::Start([s](const FakeHttpRequest& req) { return s->Serve(req); },
                                      {address, tls, 64 * 1024, name});
    if (!http.ok()) return http.status();
    http_ = *std::move(http);
    return absl::OkStatus();
  }

  State& state() const { return *state_; }

  // One field of the state, read or written under the state's lock (the
  // analysis cannot follow a member pointer; the lock is the one it guards).
  template <typename T>
  T Get(T State::*field) const {
    absl::MutexLock lock(&state_->mu);
    return (*state_).*field;
  }
  template <typename T>
  void Set(T State::*field, T value) {
    absl::MutexLock lock(&state_->mu);
    (*state_).*field = std::move(value);
  }

 private:
  std::unique_ptr<State> state_;
  std::unique_ptr<FakeHttpServer> http_;  // after state_: destroyed first
};

// Scripted replies queued per call ("" where a fake scripts one call only),
// each consumed by the next request of that call. Thread-safe.
class FakeScript {
 public:
  void Push(const std::string& call, FakeReply reply);
  std::optional<FakeReply> Next(const std::string& call);

 private:
  absl::Mutex mu_;
  std::map<std::string, std::deque<FakeReply>> queues_ ABSL_GUARDED_BY(mu_);
};

// Fixed rate-limit windows per account, aligned to the Unix epoch (as the
// networks count them): the use of the current window, restarted when a new
// one begins, and the headers that tell it. Not thread-safe: its owner's lock
// guards it.
class FakeRateWindows {
 public:
  struct Window {
    int64_t number = 0;  // Unix time / window length
    int used = 0;
  };
  // Headers named <header_prefix>Limit, ...Remaining, ...Reset; the reset
  // time as `format_reset` writes it.
  FakeRateWindows(absl::Duration length, std::string header_prefix,
                  std::function<std::string(absl::Time)> format_reset)
      : seconds_(absl::ToInt64Seconds(length)),
        prefix_(std::move(header_prefix)),
        format_reset_(std::move(format_reset)) {}

  Window& For(const std::string& account);
  absl::Time Reset(const Window& w) const {
    return absl::FromUnixSeconds((w.number + 1) * seconds_);
  }

  // Limit, Remaining (what `account`'s window has left of `limit`, or
  // `remaining`) and Reset (the window's end, or `reset`).
  void AddHeaders(FakeHttpResponse* res, const std::string& account, int limit,
                  std::optional<absl::Time> reset = std::nullopt,
                  std::optional<int> remaining = std::nullopt);

 private:
  int64_t seconds_;
  std::string prefix_;
  std::function<std::string(absl::Time)> format_reset_;
  std::map<std::string, Window> windows_;
};

}  // namespace iss::peebot::testing
