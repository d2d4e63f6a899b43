#include "gateway/openapi.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace iss::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using nlohmann::json;

json ScalarSchema(const FieldDescriptor* f) {
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_UINT32:
      return {{"type", "integer"}};
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT64:
      return {{"type", "string"}, {"format", "int64"}};
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return {{"type", "number"}};
    case FieldDescriptor::CPPTYPE_BOOL:
      return {{"type", "boolean"}};
    case FieldDescriptor::CPPTYPE_ENUM: {
      json values = json::array();
      for (int i = 0; i < f->enum_type()->value_count(); ++i) {
        values.push_back(f->enum_type()->value(i)->name());
      }
      return {{"type", "string"}, {"enum", values}};
    }
    case FieldDescriptor::CPPTYPE_STRING:
      return f->type() == FieldDescriptor::TYPE_BYTES ? json{{"type", "string"}, {"format", "byte"}}
                                                      : json{{"type", "string"}};
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const std::string& n = f->message_type()->full_name();
      if (n == "google.protobuf.Timestamp") return {{"type", "string"}, {"format", "date-time"}};
      if (n == "google.protobuf.Duration") return {{"type", "string"}, {"example", "1.5s"}};
      return {{"type", "string"}};
    }
  }
  return {{"type", "string"}};
}

bool IsLeafMessage(const Descriptor* d) {
  const std::string& n = d->full_name();
  return n == "google.protobuf.Timestamp" || n == "google.protobuf.Duration" ||
         n == "google.protobuf.FieldMask" ||
         (n.rfind("google.protobuf.", 0) == 0 && n.size() > 5 &&
          n.compare(n.size() - 5, 5, "Value") == 0);
}

// Query parameters: every leaf field reachable through singular messages,
// minus those bound by the path. Depth-limited (recursive messages).
void QueryParams(const Descriptor* d, const std::string& prefix, const std::set<std::string>& bound,
                 int depth, json& out) {
  if (depth > 3) return;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const std::string name = prefix + f->name();
    if (bound.count(name) || f->is_map()) continue;
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !IsLeafMessage(f->message_type())) {
      if (!f->is_repeated()) QueryParams(f->message_type(), name + ".", bound, depth + 1, out);
      continue;
    }
    json schema = ScalarSchema(f);
    if (f->is_repeated()) schema = {{"type", "array"}, {"items", schema}};
    out.push_back({{"name", name}, {"in", "query"}, {"required", false}, {"schema", schema}});
    if (f->is_repeated()) out.back()["explode"] = true;
  }
}

}  // namespace

std::string RoutesJson(const RouteTable& table) {
  json routes = json::array();
  for (const Route& r : table.routes()) {
    routes.push_back({{"method", r.http_method},
                      {"path", r.path.text()},
                      {"rpc", r.grpc_path},
                      {"body", r.body},
                      {"responseBody", r.response_body},
                      {"serverStreaming", r.server_streaming},
                      {"admin", r.admin},
                      {"successStatus", r.success_status}});
  }
  return json{{"routes", routes}}.dump();
}

std::string OpenApiJson(const RouteTable& table) {
  json paths = json::object();
  for (const Route& r : table.routes()) {
    const google::protobuf::MethodDescriptor* m = r.method;
    json op = {{"operationId", absl::StrCat(m->service()->name(), "_", m->name())},
               {"tags", {m->service()->full_name()}},
               {"summary", absl::StrCat("gRPC ", r.grpc_path)}};
    json params = json::array();
    std::set<std::string> bound;
    for (const PathTemplate::Variable& v : r.path.variables()) {
      bound.insert(v.field_path);
      params.push_back({{"name", v.field_path},
                        {"in", "path"},
                        {"required", true},
                        {"schema", {{"type", "string"}}}});
    }
    if (r.body != "*") {
      if (!r.body.empty()) bound.insert(r.body);
      QueryParams(m->input_type(), "", bound, 0, params);
    }
    op["parameters"] = params;
    if (!r.body.empty()) {
      const std::string type = r.body == "*"
                                   ? m->input_type()->full_name()
                                   : m->input_type()->FindFieldByName(r.body)->full_name();
      op["requestBody"] = {{"required", true},
                           {"description", absl::StrCat("JSON form of ", type)},
                           {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}};
    }
    const std::string out_type =
        r.response_body.empty()
            ? m->output_type()->full_name()
            : m->output_type()->FindFieldByName(r.response_body)->message_type()->full_name();
    const std::string media = r.server_streaming ? "text/event-stream" : "application/json";
    // The success code is the one the gateway answers: 200, or the RPC's
    // (iss.options.v1.http_success_status).
    op["responses"] = {
        {absl::StrCat(r.success_status),
         {{"description", r.server_streaming ? absl::StrCat("Server-Sent Events, one JSON ",
                                                            out_type, " per event")
                                             : absl::StrCat("JSON form of ", out_type)},
          {"content", {{media, {{"schema", {{"type", "object"}}}}}}}}},
        {"default",
         {{"description", "google.rpc.Status"},
          {"content",
           {{"application/json", {{"schema", {{"$ref", "#/components/schemas/Status"}}}}}}}}}};
    if (r.admin) op["security"] = json::array({{{"bearer", json::array()}}});
    paths[r.path.OpenApiPath()][absl::AsciiStrToLower(r.http_method)] = op;
  }
  json doc = {{"openapi", "3.0.3"},
              {"info", {{"title", "ISS live telemetry API"}, {"version", "v1"}}},
              {"paths", paths},
              {"components",
               {{"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}},
                {"schemas",
                 {{"Status",
                   {{"type", "object"},
                    {"properties",
                     {{"code", {{"type", "integer"}}},
                      {"message", {{"type", "string"}}},
                      {"details", {{"type", "array"}, {"items", {{"type", "object"}}}}}}}}}}}}}};
  return doc.dump();
}

}  // namespace iss::gateway
