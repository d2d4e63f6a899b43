// Owns: turning an HTTP request (path bindings, query string, JSON body) into
// the RPC's request message, and the RPC's response into JSON, with
// protobuf's own proto3 JSON mapping (lowerCamelCase, int64 as strings,
// RFC 3339 timestamps). Pure functions over descriptors: no I/O.
//
// Mapping rules (as grpc-gateway / Envoy's transcoder):
//   - body "*": the whole JSON body is the request; query parameters are refused.
//   - body "<field>": the JSON body is that field; other fields from path/query.
//   - no body: every field not bound by the path may come from the query string,
//     nested fields with dots ("value_filter.min"), repeated fields by repetition
//     ("item_ids=A&item_ids=B"), names in proto or lowerCamelCase form.
//   - path variables win over body and query values.
// Unknown JSON fields and unknown query parameters are INVALID_ARGUMENT naming
// the field (grpc-gateway discards them; docs/api.md says why we do not).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gateway/route_table.h"
#include "google/protobuf/message.h"

namespace iss::gateway {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// Splits "a=1&b=x%20y" (form encoding: '+' is a space), percent-decoding both sides.
absl::StatusOr<QueryParams> ParseQuery(absl::string_view query);

// A new, empty message of `type` (generated prototype when the type is
// compiled in, a dynamic message otherwise).
std::unique_ptr<google::protobuf::Message> NewMessage(const google::protobuf::Descriptor* type);
// The same on `arena` (owned by the arena: do not delete).
google::protobuf::Message* NewMessageOn(const google::protobuf::Descriptor* type,
                                        google::protobuf::Arena* arena);

// Sets the field at `path` ("a.b.c", proto or json names) from its text form
// with proto3 JSON scalar rules; repeated fields get `value` appended.
absl::Status SetFieldFromText(google::protobuf::Message& msg, absl::string_view path,
                              absl::string_view value);

absl::StatusOr<std::unique_ptr<google::protobuf::Message>> BuildRequest(
    const Route& route, const PathTemplate::Bindings& bindings, absl::string_view query,
    absl::string_view body);

// The response as JSON (response_body applied); every field printed, as
// grpc-gateway's EmitUnpopulated does.
absl::StatusOr<std::string> ResponseToJson(const Route& route,
                                           const google::protobuf::Message& response);

// The same from the response's serialized bytes: printed straight from the
// wire (FastWireToJson) when it can, else parsed and printed as above.
// DATA_LOSS "undecodable upstream response" when the bytes do not parse.
absl::StatusOr<std::string> ResponseBytesToJson(const Route& route, std::string_view wire);

// google.rpc.Status JSON: {"code":3,"message":"...","details":[...]}.
// `details_bin` is grpc-status-details-bin (a serialized google.rpc.Status),
// used for `details` when it parses and its Any types are known.
std::string StatusJson(int code, absl::string_view message, absl::string_view details_bin = "");

// gRPC status code -> HTTP status, exactly as grpc-gateway v2 maps them.
int HttpStatusFromGrpc(int grpc_code);

}  // namespace iss::gateway
