#include "gateway/route_table.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "google/api/annotations.pb.h"
#include "google/api/http.pb.h"
#include "iss/options/v1/options.pb.h"

namespace iss::gateway {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::MethodDescriptor;

// (iss.options.v1.http_success_status): a 2xx that carries a body, on a
// method whose REST answer is one JSON body (not an SSE stream).
absl::Status SetSuccessStatus(const MethodDescriptor* m, Route& r) {
  if (!m->options().HasExtension(iss::options::v1::http_success_status)) return absl::OkStatus();
  const int status = m->options().GetExtension(iss::options::v1::http_success_status);
  if (m->server_streaming()) {
    return absl::InvalidArgumentError(absl::StrCat(
        m->full_name(), ": http_success_status on a server-streaming RPC (SSE answers 200)"));
  }
  if (status < 200 || status > 299 || status == 204 || status == 205 || status == 206) {
    return absl::InvalidArgumentError(
        absl::StrCat(m->full_name(), ": http_success_status ", status,
                     " is not a 2xx status with a body (200-203, 207-299)"));
  }
  r.success_status = status;
  return absl::OkStatus();
}

absl::Status AddRule(const MethodDescriptor* m, const google::api::HttpRule& rule,
                     std::vector<Route>& out) {
  Route r;
  std::string pattern;
  switch (rule.pattern_case()) {
    case google::api::HttpRule::kGet:
      r.http_method = "GET", pattern = rule.get();
      break;
    case google::api::HttpRule::kPut:
      r.http_method = "PUT", pattern = rule.put();
      break;
    case google::api::HttpRule::kPost:
      r.http_method = "POST", pattern = rule.post();
      break;
    case google::api::HttpRule::kDelete:
      r.http_method = "DELETE", pattern = rule.delete_();
      break;
    case google::api::HttpRule::kPatch:
      r.http_method = "PATCH", pattern = rule.patch();
      break;
    case google::api::HttpRule::kCustom:
      r.http_method = rule.custom().kind(), pattern = rule.custom().path();
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(m->full_name(), ": http rule without a pattern"));
  }
  auto tmpl = PathTemplate::Parse(pattern);
  if (!tmpl.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(m->full_name(), ": ", tmpl.status().message()));
  }
  r.path = *std::move(tmpl);
  r.method = m;
  r.grpc_path = absl::StrCat("/", m->service()->full_name(), "/", m->name());
  r.body = rule.body();
  r.response_body = rule.response_body();
  r.server_streaming = m->server_streaming();
  r.admin = m->options().GetExtension(iss::options::v1::admin);
  if (auto st = SetSuccessStatus(m, r); !st.ok()) return st;
  if (m->client_streaming()) {
    return absl::InvalidArgumentError(
        absl::StrCat(m->full_name(), ": client-streaming RPCs cannot be mapped to REST"));
  }
  if (!r.body.empty() && r.body != "*" && m->input_type()->FindFieldByName(r.body) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(m->full_name(), ": body field \"", r.body, "\" does not exist"));
  }
  if (!r.response_body.empty()) {
    const FieldDescriptor* f = m->output_type()->FindFieldByName(r.response_body);
    if (f == nullptr || f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || f->is_repeated()) {
      return absl::InvalidArgumentError(
          absl::StrCat(m->full_name(), ": response_body must name a singular message field"));
    }
  }
  for (const PathTemplate::Variable& v : r.path.variables()) {
    if (v.field_path.find('.') == std::string::npos &&
        m->input_type()->FindFieldByName(v.field_path) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(m->full_name(), ": path variable \"",
                                                     v.field_path, "\" is not a request field"));
    }
  }
  out.push_back(std::move(r));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RouteTable> RouteTable::Build(const google::protobuf::DescriptorPool& pool,
                                             const std::vector<std::string>& service_names) {
  RouteTable table;
  for (const std::string& name : service_names) {
    const google::protobuf::ServiceDescriptor* svc = pool.FindServiceByName(name);
    if (svc == nullptr) {
      return absl::NotFoundError(absl::StrCat("service ", name, " is not in the descriptor pool"));
    }
    for (int i = 0; i < svc->method_count(); ++i) {
      const MethodDescriptor* m = svc->method(i);
      if (!m->options().HasExtension(google::api::http)) continue;
      const google::api::HttpRule& rule = m->options().GetExtension(google::api::http);
      if (auto st = AddRule(m, rule, table.routes_); !st.ok()) return st;
      for (const google::api::HttpRule& extra : rule.additional_bindings()) {
        if (auto st = AddRule(m, extra, table.routes_); !st.ok()) return st;
      }
    }
  }
  std::stable_sort(table.routes_.begin(), table.routes_.end(), [](const Route& a, const Route& b) {
    return a.path.Specificity() > b.path.Specificity();
  });
  for (size_t i = 0; i < table.routes_.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      const Route& a = table.routes_[i];
      const Route& b = table.routes_[j];
      if (a.http_method == b.http_method && a.path.OpenApiPath() == b.path.OpenApiPath()) {
        return absl::AlreadyExistsError(absl::StrCat(a.http_method, " ", a.path.text(),
                                                     " is bound by both ", a.method->full_name(),
                                                     " and ", b.method->full_name()));
      }
    }
  }
  return table;
}

RouteTable::MatchResult RouteTable::Match(absl::string_view method, absl::string_view path) const {
  MatchResult result;
  for (const Route& r : routes_) {
    auto bindings = r.path.Match(path);
    if (!bindings) continue;
    if (r.http_method != method) {
      result.outcome = Outcome::kMethodNotAllowed;
      continue;
    }
    result.outcome = Outcome::kFound;
    result.route = &r;
    result.bindings = *std::move(bindings);
    return result;
  }
  return result;
}

}  // namespace iss::gateway
