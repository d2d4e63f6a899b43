#include "gateway/testing/fake_upstream.h"

#include <atomic>
#include <deque>
#include <set>

#include "absl/strings/str_cat.h"
#include "grpcpp/impl/codegen/server_callback_handlers.h"
#include "grpcpp/impl/service_type.h"
#include "grpcpp/support/server_callback.h"

namespace iss::gateway::testing {
namespace {

std::string ToString(const grpc::ByteBuffer& buf) {
  std::vector<grpc::Slice> slices;
  std::string out;
  (void)buf.Dump(&slices);
  for (const grpc::Slice& s : slices)
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

grpc::ByteBuffer ToBuffer(const std::string& s) {
  grpc::Slice slice(s);
  return grpc::ByteBuffer(&slice, 1);
}

FakeUpstream::Call Record(grpc::CallbackServerContext* ctx, const std::string& method,
                          const grpc::ByteBuffer* request) {
  FakeUpstream::Call call;
  call.method = method;
  call.request = ToString(*request);
  for (const auto& [k, v] : ctx->client_metadata()) {
    call.metadata.emplace(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
  }
  const auto deadline = ctx->deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    call.deadline_left = absl::FromChrono(deadline) - absl::Now();
  }
  return call;
}

class StreamReactor;

}  // namespace

struct FakeUpstream::State {
  mutable absl::Mutex mu;
  std::vector<Call> calls ABSL_GUARDED_BY(mu);
  std::map<std::string, Handler> handlers ABSL_GUARDED_BY(mu);
  struct StreamPlan {
    std::vector<std::string> messages;
    bool hold = false;
  };
  std::map<std::string, StreamPlan> streams ABSL_GUARDED_BY(mu);
  std::set<StreamReactor*> open ABSL_GUARDED_BY(mu);
  int cancelled ABSL_GUARDED_BY(mu) = 0;
};

namespace {

using State = FakeUpstream::State;

class UnaryReactor : public grpc::ServerUnaryReactor {
 public:
  UnaryReactor(std::shared_ptr<State> state, std::optional<grpc::Status>* unused) : state_(state) {}
  void Run(grpc::CallbackServerContext* ctx, const std::string& method,
           const grpc::ByteBuffer* request, grpc::ByteBuffer* response) {
    FakeUpstream::Call call = Record(ctx, method, request);
    FakeUpstream::Handler handler;
    {
      absl::MutexLock lock(&state_->mu);
      state_->calls.push_back(call);
      if (auto it = state_->handlers.find(method); it != state_->handlers.end())
        handler = it->second;
    }
    std::string out;
    std::optional<grpc::Status> status = handler ? handler(call, &out) : grpc::Status::OK;
    if (!status) return;  // hang: OnCancel finishes
    *response = ToBuffer(out);
    Finish(*status);
    finished_ = true;
  }
  void OnCancel() override {
    absl::MutexLock lock(&state_->mu);
    ++state_->cancelled;
    if (!finished_) Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
  }
  void OnDone() override { delete this; }

 private:
  std::shared_ptr<State> state_;
  std::atomic<bool> finished_{false};
};

class StreamReactor : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  StreamReactor(std::shared_ptr<State> state, grpc::CallbackServerContext* ctx,
                const std::string& method, const grpc::ByteBuffer* request)
      : state_(std::move(state)), method_(method) {
    FakeUpstream::Call call = Record(ctx, method, request);
    absl::MutexLock lock(&state_->mu);
    state_->calls.push_back(call);
    State::StreamPlan plan = state_->streams[method];
    for (std::string& m : plan.messages) queue_.push_back(std::move(m));
    hold_ = plan.hold;
    if (hold_) state_->open.insert(this);
    PumpLocked();
  }
  const std::string& method() const { return method_; }
  // Every reactor shares its upstream's State: holding the upstream's mutex
  // is holding this one (the analysis cannot see that alias by itself).
  absl::Mutex& mu() const ABSL_LOCK_RETURNED(state_->mu) { return state_->mu; }

  void EnqueueLocked(std::string bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) {
    queue_.push_back(std::move(bytes));
    PumpLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&state_->mu);
    writing_ = false;
    if (!ok) return FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
    queue_.pop_front();
    PumpLocked();
  }
  void OnCancel() override {
    absl::MutexLock lock(&state_->mu);
    ++state_->cancelled;
    FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
  }
  // Finish (always ours, under the lock) already left `open`.
  void OnDone() override { delete this; }

 private:
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) {
    if (writing_ || finished_) return;
    if (!queue_.empty()) {
      writing_ = true;
      current_ = ToBuffer(queue_.front());
      StartWrite(&current_);
      return;
    }
    if (!hold_) FinishLocked(grpc::Status::OK);
  }
  void FinishLocked(const grpc::Status& st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) {
    if (finished_) return;
    finished_ = true;
    state_->open.erase(this);
    Finish(st);
  }

  std::shared_ptr<State> state_;
  std::string method_;
  std::deque<std::string> queue_;
  grpc::ByteBuffer current_;
  bool hold_ = false;
  bool writing_ = false;
  bool finished_ = false;
};

// A grpc::Service built from a descriptor at run time: every RPC is a raw
// (ByteBuffer) callback method, so one class serves any service.
class DescriptorService : public grpc::Service {
 public:
  DescriptorService(const google::protobuf::ServiceDescriptor* sd, std::shared_ptr<State> state)
      : state_(std::move(state)) {
    for (int i = 0; i < sd->method_count(); ++i) {
      names_.push_back(absl::StrCat("/", sd->full_name(), "/", sd->method(i)->name()));
    }
    for (int i = 0; i < sd->method_count(); ++i) {
      const std::string& name = names_[i];
      const bool streaming = sd->method(i)->server_streaming();
      AddMethod(new grpc::internal::RpcServiceMethod(
          name.c_str(),
          streaming ? grpc::internal::RpcMethod::SERVER_STREAMING
                    : grpc::internal::RpcMethod::NORMAL_RPC,
          nullptr));
      if (streaming) {
        MarkMethodRawCallback(
            i,
            new grpc::internal::CallbackServerStreamingHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
                [this, &name](grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* req) {
                  return new StreamReactor(state_, ctx, name, req);
                }));
      } else {
        MarkMethodRawCallback(
            i, new grpc::internal::CallbackUnaryHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
                   [this, &name](grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* req,
                                 grpc::ByteBuffer* resp) {
                     auto* r = new UnaryReactor(state_, nullptr);
                     r->Run(ctx, name, req, resp);
                     return r;
                   }));
      }
    }
  }

 private:
  std::shared_ptr<State> state_;
  std::deque<std::string> names_;  // stable addresses: RpcServiceMethod keeps the c_str
};

}  // namespace

FakeUpstream::FakeUpstream(std::vector<std::string> service_names, std::string admin_token)
    : service_names_(std::move(service_names)),
      admin_token_(std::move(admin_token)),
      state_(std::make_shared<State>()) {}

FakeUpstream::~FakeUpstream() {
  if (server_) server_->Shutdown(absl::Seconds(1));
}

absl::Status FakeUpstream::Start() {
  GrpcServerOptions opts;
  opts.address = "127.0.0.1:0";
  opts.admin_token = admin_token_;
  opts.health = &health_;
  for (const std::string& name : service_names_) {
    const auto* sd = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
    if (sd == nullptr) return absl::NotFoundError(absl::StrCat("no service ", name));
    services_.push_back(std::make_unique<DescriptorService>(sd, state_));
    opts.services.push_back(services_.back().get());
  }
  health_.Declare("fake", true);
  health_.Set("fake", true, "ready");
  auto server = GrpcServer::Start(opts);
  if (!server.ok()) return server.status();
  server_ = *std::move(server);
  return absl::OkStatus();
}

std::string FakeUpstream::address() const { return absl::StrCat("127.0.0.1:", server_->port()); }

void FakeUpstream::OnCall(const std::string& method, Handler handler) {
  absl::MutexLock lock(&state_->mu);
  state_->handlers[method] = std::move(handler);
}

void FakeUpstream::Reply(const std::string& method, const google::protobuf::Message& response) {
  OnCall(method, [bytes = response.SerializeAsString()](const Call&, std::string* out) {
    *out = bytes;
    return grpc::Status::OK;
  });
}

void FakeUpstream::Stream(const std::string& method, std::vector<std::string> messages, bool hold) {
  absl::MutexLock lock(&state_->mu);
  state_->streams[method] = State::StreamPlan{std::move(messages), hold};
}

int FakeUpstream::Push(const std::string& method, const google::protobuf::Message& message) {
  const std::string bytes = message.SerializeAsString();
  absl::MutexLock lock(&state_->mu);
  int n = 0;
  for (StreamReactor* r : state_->open) {
    if (r->method() != method) continue;
    r->mu().AssertHeld();
    r->EnqueueLocked(bytes);
    ++n;
  }
  return n;
}

std::vector<FakeUpstream::Call> FakeUpstream::Calls() const {
  absl::MutexLock lock(&state_->mu);
  return state_->calls;
}

std::optional<FakeUpstream::Call> FakeUpstream::LastCall(const std::string& method) const {
  absl::MutexLock lock(&state_->mu);
  for (auto it = state_->calls.rbegin(); it != state_->calls.rend(); ++it) {
    if (it->method == method) return *it;
  }
  return std::nullopt;
}

int FakeUpstream::OpenStreams() const {
  absl::MutexLock lock(&state_->mu);
  return static_cast<int>(state_->open.size());
}

int FakeUpstream::CancelledCalls() const {
  absl::MutexLock lock(&state_->mu);
  return state_->cancelled;
}

}  // namespace iss::gateway::testing
