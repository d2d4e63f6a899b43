#include "gateway/upstreams.h"

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace iss::gateway {

Upstreams::Upstreams(std::vector<UpstreamSpec> specs) : specs_(std::move(specs)) {
  for (const UpstreamSpec& s : specs_) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    // Reconnect quickly after an upstream restart; /readyz reports the gap.
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    channels_.push_back(
        grpc::CreateCustomChannel(s.address, grpc::InsecureChannelCredentials(), args));
    stubs_.push_back(std::make_unique<grpc::GenericStub>(channels_.back()));
    for (const std::string& svc : s.service_names) by_service_[svc] = stubs_.back().get();
  }
}

Upstreams::~Upstreams() {
  if (prober_.joinable()) {
    stop_.Notify();
    prober_.join();
  }
}

std::vector<std::string> Upstreams::ServiceNames() const {
  std::vector<std::string> out;
  for (const auto& [name, unused] : by_service_) out.push_back(name);
  return out;
}

grpc::GenericStub* Upstreams::StubFor(const std::string& service_name) const {
  auto it = by_service_.find(service_name);
  return it == by_service_.end() ? nullptr : it->second;
}

void Upstreams::ProbeOnce(Health* health) {
  for (size_t i = 0; i < specs_.size(); ++i) {
    grpc::health::v1::Health::Stub stub(channels_[i]);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    const grpc::Status st = stub.Check(&ctx, req, &resp);
    const std::string dep = absl::StrCat("upstream:", specs_[i].name);
    if (!st.ok()) {
      health->Set(dep, false, absl::StrCat(specs_[i].address, ": ", st.error_message()));
    } else if (resp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
      health->Set(dep, false, absl::StrCat(specs_[i].address, ": not serving"));
    } else {
      health->Set(dep, true, specs_[i].address);
    }
  }
}

void Upstreams::StartHealthProbe(Health* health, absl::Duration interval) {
  for (const UpstreamSpec& s : specs_) health->Declare(absl::StrCat("upstream:", s.name));
  prober_ = std::thread([this, health, interval] {
    do {
      ProbeOnce(health);
    } while (!stop_.WaitForNotificationWithTimeout(interval));
  });
}

}  // namespace iss::gateway
