#include "common/grpc_server.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <atomic>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/log.h"
#include "common/metrics.h"
#include "google/protobuf/descriptor.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/support/server_interceptor.h"
#include "iss/options/v1/options.pb.h"

namespace iss {
namespace {

using grpc::experimental::InterceptionHookPoints;

absl::Mutex g_token_mu;
std::string* g_admin_token ABSL_GUARDED_BY(g_token_mu) = new std::string();

std::string AdminToken() {
  absl::MutexLock lock(&g_token_mu);
  return *g_admin_token;
}

// Constant-time comparison: the time taken must tell neither how much matched
// nor how long the token is. Comparing the strings directly would have to stop
// at a length mismatch; their SHA-256 digests always have the same length.
bool TokenEquals(absl::string_view a, absl::string_view b) {
  unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), da);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), db);
  return CRYPTO_memcmp(da, db, sizeof(da)) == 0;
}

absl::Status CheckBearer(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
  const std::string token = AdminToken();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError("admin call: missing 'authorization: Bearer <token>'");
  }
  absl::string_view value(it->second.data(), it->second.size());
  if (!absl::ConsumePrefix(&value, "Bearer ") && !absl::ConsumePrefix(&value, "bearer ")) {
    return absl::UnauthenticatedError("admin call: authorization is not a Bearer token");
  }
  if (token.empty()) {
    return absl::PermissionDeniedError("admin calls are disabled: ISS_ADMIN_TOKEN is not set");
  }
  if (!TokenEquals(value, token)) return absl::PermissionDeniedError("admin call: wrong token");
  return absl::OkStatus();
}

// "/iss.storage.v1.StorageService/QueryWindow" -> {"iss.storage.v1.StorageService", "QueryWindow"}
std::pair<std::string, std::string> SplitMethod(const std::string& full) {
  absl::string_view s = full;
  absl::ConsumePrefix(&s, "/");
  const size_t slash = s.find('/');
  if (slash == absl::string_view::npos) return {std::string(s), ""};
  return {std::string(s.substr(0, slash)), std::string(s.substr(slash + 1))};
}

// gRPC's default health service is not generated protobuf code (gRPC core
// encodes its messages itself), so nothing puts grpc/health/v1/health.proto in
// the binary's generated descriptor pool: reflection lists
// grpc.health.v1.Health but cannot resolve it, and a client without proto
// files (grpcurl ... grpc.health.v1.Health/Check) fails with "Symbol not
// found". Using the generated descriptor links health.pb.o (iss_proto) in,
// whose static initialiser registers the file. Tests that call Health through
// the generated stub link it anyway, which is why only the real binaries
// showed it (tests/compat/reflection_client_test).
const google::protobuf::ServiceDescriptor* HealthServiceDescriptor() {
  return grpc::health::v1::HealthCheckRequest::descriptor()->file()->FindServiceByName("Health");
}

// The {grpc_service, grpc_method} labels of a call. The method name comes from
// the client, so only methods this binary knows keep their names (the ones in
// its generated descriptor pool, which includes grpc.health.v1.Health, see
// HealthServiceDescriptor); anything else is ("unknown", "unknown"), or every
// made-up name would add metric series without bound (memory and /metrics
// size).
std::pair<std::string, std::string> MetricLabels(const std::string& full_method) {
  auto [service, method] = SplitMethod(full_method);
  const auto* sd = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
  if (sd != nullptr && sd->FindMethodByName(method) != nullptr) return {service, method};
  return {"unknown", "unknown"};
}

const char* CodeName(grpc::StatusCode code) {
  static const char* kNames[] = {
      "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "Unknown";
}

// Per-call interceptor: metrics for every call, the admin safety net for
// admin methods (see grpc_server.h).
class CallInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit CallInterceptor(grpc::experimental::ServerRpcInfo* info)
      : info_(info), admin_(IsAdminMethod(info->method())) {
    std::tie(service_, method_) = MetricLabels(info->method());
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      start_ = absl::Now();
      metrics::CounterFamily("grpc_server_started_total", "RPCs started on the server.")
          .Add({{"grpc_service", service_}, {"grpc_method", method_}})
          .Increment();
      if (admin_) auth_ = CheckBearer(*methods->GetRecvInitialMetadata());
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      if (admin_ && !auth_.ok() && status.ok()) {
        log::Error("admin handler answered OK without AuthorizeAdmin: status replaced",
                   {{"method", info_->method()}});
        metrics::Counter("iss_grpc_admin_unchecked_total",
                         "Admin RPCs whose handler skipped the token check.")
            .Increment();
        status =
            grpc::Status(static_cast<grpc::StatusCode>(auth_.code()), std::string(auth_.message()));
        methods->ModifySendStatus(status);
      }
      const char* code = CodeName(status.error_code());
      metrics::CounterFamily("grpc_server_handled_total",
                             "RPCs completed on the server, by status code.")
          .Add({{"grpc_service", service_}, {"grpc_method", method_}, {"grpc_code", code}})
          .Increment();
      metrics::HistogramFamily("grpc_server_handling_seconds",
                               "Time from receiving an RPC to sending its status.")
          .Add({{"grpc_service", service_}, {"grpc_method", method_}}, metrics::LatencyBuckets())
          .Observe(absl::ToDoubleSeconds(absl::Now() - start_));
    }
    methods->Proceed();
  }

 private:
  grpc::experimental::ServerRpcInfo* info_;
  const bool admin_;
  std::string service_, method_;
  absl::Time start_ = absl::Now();
  absl::Status auth_;
};

class CallInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CallInterceptor(info);
  }
};

}  // namespace

// Mirrors Health into grpc.health.v1 while the server lives. Health may outlive
// the server, so the listener holds this (shared) link, cleared at shutdown.
struct HealthLink {
  absl::Mutex mu;
  grpc::Server* server ABSL_GUARDED_BY(mu) = nullptr;
  std::vector<std::string> names;
  void Apply(bool serving) {
    absl::MutexLock lock(&mu);
    if (server == nullptr) return;
    auto* hc = server->GetHealthCheckService();
    if (hc == nullptr) return;
    hc->SetServingStatus(serving);  // "" and every named service
    for (const auto& n : names) hc->SetServingStatus(n, serving);
  }
};

void SetAdminToken(const std::string& token) {
  absl::MutexLock lock(&g_token_mu);
  *g_admin_token = token;
}

absl::Status AuthorizeAdmin(const grpc::ServerContextBase& ctx) {
  return CheckBearer(ctx.client_metadata());
}

bool IsAdminMethod(const std::string& full_method) {
  auto [service, method] = SplitMethod(full_method);
  const auto* sd = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
  if (sd == nullptr) return false;
  const auto* md = sd->FindMethodByName(method);
  return md != nullptr && md->options().GetExtension(iss::options::v1::admin);
}

void AddBearer(grpc::ClientContext* ctx, const std::string& token) {
  ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
}

GrpcServerOptions ServiceGrpcOptions(std::string address, std::string admin_token,
                                     grpc::Service* service, std::string service_name,
                                     Health* health, int max_receive_bytes) {
  GrpcServerOptions o;
  o.address = std::move(address);
  o.admin_token = std::move(admin_token);
  o.services = {service};
  o.service_names = {std::move(service_name)};
  o.health = health;
  o.max_receive_bytes = max_receive_bytes;
  return o;
}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const GrpcServerOptions& options) {
  if (options.health == nullptr) return absl::InvalidArgumentError("GrpcServer needs a Health");
  SetAdminToken(options.admin_token);
  grpc::EnableDefaultHealthCheckService(true);
  if (HealthServiceDescriptor() == nullptr) {  // cannot happen: health.proto defines it
    return absl::InternalError("grpc.health.v1.Health is not in the descriptor pool");
  }
  // Must be called explicitly, or --as-needed drops the reflection library.
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  auto server = std::unique_ptr<GrpcServer>(new GrpcServer());
  builder.AddListeningPort(options.address, grpc::InsecureServerCredentials(), &server->port_);
  builder.SetMaxReceiveMessageSize(options.max_receive_bytes);
  builder.SetMaxSendMessageSize(options.max_send_bytes);
  for (grpc::Service* s : options.services) builder.RegisterService(s);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(std::make_unique<CallInterceptorFactory>());
  builder.experimental().SetInterceptorCreators(std::move(creators));

  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for gRPC on ", options.address, " (in use or not allowed?)"));
  }
  auto link = std::make_shared<HealthLink>();
  {
    absl::MutexLock lock(&link->mu);
    link->server = server->server_.get();
  }
  link->names = options.service_names;
  server->health_link_ = link;
  options.health->OnChange([link](bool serving) { link->Apply(serving); });
  link->Apply(options.health->Serving());
  log::Info("grpc server listening", {{"address", options.address}, {"port", server->port_}});
  return server;
}

void GrpcServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  if (health_link_) {
    health_link_->Apply(false);
    absl::MutexLock lock(&health_link_->mu);
    health_link_->server = nullptr;
  }
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoSeconds(grace));
  server_->Wait();
}

GrpcServer::~GrpcServer() { Shutdown(absl::Seconds(1)); }

}  // namespace iss
