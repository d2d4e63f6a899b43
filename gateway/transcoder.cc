#include "gateway/transcoder.h"

#include <algorithm>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/json_string.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "gateway/json_printer.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/status.pb.h"

namespace iss::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

absl::StatusOr<std::string> FormDecode(absl::string_view in) {
  bool plain = true;  // nothing to decode: the common case, no second copy
  for (char c : in) plain &= c != '%' && c != '+';
  if (plain) return std::string(in);
  std::string plus_free(in);
  for (char& c : plus_free) {
    if (c == '+') c = ' ';
  }
  return PercentDecode(plus_free);
}

const FieldDescriptor* FindField(const Descriptor* type, absl::string_view name) {
  if (const FieldDescriptor* f = type->FindFieldByName(std::string(name))) return f;
  for (int i = 0; i < type->field_count(); ++i) {
    if (type->field(i)->json_name() == name) return type->field(i);
  }
  return nullptr;
}

std::string JsonQuote(absl::string_view s) {
  std::string out;
  AppendJsonString(out, AsStd(s));
  return out;
}

bool IsWrapper(const Descriptor* d) {
  return absl::StartsWith(d->full_name(), "google.protobuf.") &&
         absl::EndsWith(d->full_name(), "Value") && d->field_count() == 1 &&
         d->field(0)->name() == "value";
}

// Parses one proto3-JSON scalar (or well-known type) from text into a leaf field.
absl::Status SetLeaf(Message& msg, const FieldDescriptor* f, absl::string_view text,
                     absl::string_view path) {
  const Reflection* r = msg.GetReflection();
  const bool rep = f->is_repeated();
  auto bad = [&](absl::string_view expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid value \"", text, "\" for field \"", path, "\": expected ", expected));
  };
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string v(text);
      if (f->type() == FieldDescriptor::TYPE_BYTES) {
        if (!absl::Base64Unescape(text, &v) && !absl::WebSafeBase64Unescape(text, &v)) {
          return bad("base64");
        }
      } else if (!IsValidUtf8(AsStd(text))) {
        // Proto3 strings are UTF-8: upstream would refuse to parse the request.
        return absl::InvalidArgumentError(
            absl::StrCat("field \"", path, "\": value is not valid UTF-8"));
      }
      rep ? r->AddString(&msg, f, std::move(v)) : r->SetString(&msg, f, std::move(v));
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("a 32-bit integer");
      rep ? r->AddInt32(&msg, f, v) : r->SetInt32(&msg, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("a 64-bit integer");
      rep ? r->AddInt64(&msg, f, v) : r->SetInt64(&msg, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("an unsigned 32-bit integer");
      rep ? r->AddUInt32(&msg, f, v) : r->SetUInt32(&msg, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("an unsigned 64-bit integer");
      rep ? r->AddUInt64(&msg, f, v) : r->SetUInt64(&msg, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double v;
      if (!absl::SimpleAtod(text, &v)) return bad("a number");
      rep ? r->AddDouble(&msg, f, v) : r->SetDouble(&msg, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_FLOAT: {
      float v;
      if (!absl::SimpleAtof(text, &v)) return bad("a number");
      rep ? r->AddFloat(&msg, f, v) : r->SetFloat(&msg, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool v;
      if (text == "true" || text == "1") {
        v = true;
      } else if (text == "false" || text == "0") {
        v = false;
      } else {
        return bad("true or false");
      }
      rep ? r->AddBool(&msg, f, v) : r->SetBool(&msg, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      int number;
      if (const auto* ev = f->enum_type()->FindValueByName(std::string(text))) {
        number = ev->number();
      } else if (!absl::SimpleAtoi(text, &number) ||
                 f->enum_type()->FindValueByNumber(number) == nullptr) {
        return bad(absl::StrCat("a value of ", f->enum_type()->full_name()));
      }
      rep ? r->AddEnumValue(&msg, f, number) : r->SetEnumValue(&msg, f, number);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      Message* sub = rep ? r->AddMessage(&msg, f) : r->MutableMessage(&msg, f);
      if (IsWrapper(f->message_type())) {
        return SetLeaf(*sub, f->message_type()->field(0), text, path);
      }
      // Timestamp (RFC 3339), Duration ("1.5s"), FieldMask ("a,b.c"), ...:
      // their JSON form is a string, so protobuf's own parser does the work.
      google::protobuf::util::JsonParseOptions opts;
      auto st = google::protobuf::util::JsonStringToMessage(JsonQuote(text), sub, opts);
      if (!st.ok()) return bad(f->message_type()->full_name());
      return absl::OkStatus();
    }
  }
  return bad("a supported type");
}

std::string CleanJsonError(absl::string_view msg) {
  constexpr absl::string_view kUnknown = ": Cannot find field.";
  if (absl::EndsWith(msg, kUnknown)) {
    return absl::StrCat("unknown field \"", msg.substr(0, msg.size() - kUnknown.size()),
                        "\" in request body");
  }
  return absl::StrCat("invalid JSON body: ", msg);
}

absl::Status ParseJsonInto(absl::string_view json, Message& msg) {
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(std::string(json), &msg, opts);
  if (!st.ok()) return absl::InvalidArgumentError(CleanJsonError(st.message().as_string()));
  return absl::OkStatus();
}

bool IsBlank(absl::string_view s) { return absl::StripAsciiWhitespace(s).empty(); }

// True when `path` equals `bound` or lies inside it ("a.b" inside "a").
bool Covers(absl::string_view bound, absl::string_view path) {
  return path == bound || absl::StartsWith(path, absl::StrCat(bound, "."));
}

// `path` with every segment spelt as its proto field name (a query key may
// use either the proto or the JSON name: `item_id` and `itemId` are one
// field). Segments that name no field are kept as written: resolving them
// later reports the unknown field.
std::string ProtoNamePath(const Descriptor* type, absl::string_view path) {
  std::string out;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    const FieldDescriptor* f = type == nullptr ? nullptr : FindField(type, part);
    if (!out.empty()) out += '.';
    if (f == nullptr) {
      absl::StrAppend(&out, part);
      type = nullptr;
      continue;
    }
    out += f->name();
    type = f->message_type();
  }
  return out;
}

}  // namespace

absl::StatusOr<QueryParams> ParseQuery(absl::string_view query) {
  QueryParams out;
  // Sized once: 300 `item_ids` otherwise move every pair ~9 times as it grows.
  out.reserve(static_cast<size_t>(std::count(query.begin(), query.end(), '&')) + 1);
  for (absl::string_view part : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    const size_t eq = part.find('=');
    auto key = FormDecode(part.substr(0, eq));
    auto value = FormDecode(eq == absl::string_view::npos ? "" : part.substr(eq + 1));
    if (!key.ok() || !value.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("bad query parameter \"", part, "\""));
    }
    out.emplace_back(*std::move(key), *std::move(value));
  }
  return out;
}

std::unique_ptr<Message> NewMessage(const Descriptor* type) {
  if (const Message* proto =
          google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)) {
    return std::unique_ptr<Message>(proto->New());
  }
  static auto* dynamic = new google::protobuf::DynamicMessageFactory();
  return std::unique_ptr<Message>(dynamic->GetPrototype(type)->New());
}

Message* NewMessageOn(const Descriptor* type, google::protobuf::Arena* arena) {
  if (const Message* proto =
          google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)) {
    return proto->New(arena);
  }
  static auto* dynamic = new google::protobuf::DynamicMessageFactory();
  return dynamic->GetPrototype(type)->New(arena);
}

namespace {

// The message and leaf field that `path` names in `msg` (sub-messages created
// on the way), or the error SetFieldFromText reports.
absl::Status ResolvePath(Message& msg, absl::string_view path, Message** target,
                         const FieldDescriptor** field) {
  Message* cur = &msg;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const bool last = dot == absl::string_view::npos;
    const absl::string_view part = path.substr(start, last ? absl::string_view::npos : dot - start);
    const FieldDescriptor* f = FindField(cur->GetDescriptor(), part);
    if (f == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown field \"", path, "\" in ", msg.GetDescriptor()->full_name()));
    }
    if (f->is_map()) {
      return absl::InvalidArgumentError(
          absl::StrCat("map field \"", path, "\" cannot be set from a query parameter"));
    }
    if (last) {
      *target = cur;
      *field = f;
      return absl::OkStatus();
    }
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || f->is_repeated() ||
        IsWrapper(f->message_type())) {
      return absl::InvalidArgumentError(
          absl::StrCat("field \"", path, "\": \"", part, "\" is not a singular message"));
    }
    cur = cur->GetReflection()->MutableMessage(cur, f);
    start = dot + 1;
  }
}

}  // namespace

absl::Status SetFieldFromText(Message& msg, absl::string_view path, absl::string_view value) {
  Message* target = nullptr;
  const FieldDescriptor* field = nullptr;
  if (auto st = ResolvePath(msg, path, &target, &field); !st.ok()) return st;
  return SetLeaf(*target, field, value, path);
}

absl::StatusOr<std::unique_ptr<Message>> BuildRequest(const Route& route,
                                                      const PathTemplate::Bindings& bindings,
                                                      absl::string_view query,
                                                      absl::string_view body) {
  const Descriptor* type = route.method->input_type();
  std::unique_ptr<Message> msg = NewMessage(type);

  if (route.body == "*") {
    if (!IsBlank(body)) {
      if (auto st = ParseJsonInto(body, *msg); !st.ok()) return st;
    }
  } else if (!route.body.empty()) {
    if (!IsBlank(body)) {
      const FieldDescriptor* f = type->FindFieldByName(route.body);
      const std::string wrapped = absl::StrCat("{", JsonQuote(f->json_name()), ":", body, "}");
      if (auto st = ParseJsonInto(wrapped, *msg); !st.ok()) return st;
    }
  } else if (!IsBlank(body)) {
    return absl::InvalidArgumentError(
        absl::StrCat(route.http_method, " ", route.path.text(), " takes no request body"));
  }

  auto params = ParseQuery(query);
  if (!params.ok()) return params.status();
  // Repeated fields come as the same key many times (300 `item_ids`): the
  // checks and the field lookup below give the same answer for the same key
  // within one request, so the last key's target is reused.
  const std::string* resolved_key = nullptr;
  Message* resolved_msg = nullptr;
  const FieldDescriptor* resolved_field = nullptr;
  for (const auto& [key, value] : *params) {
    if (resolved_key != nullptr && key == *resolved_key) {
      if (auto st = SetLeaf(*resolved_msg, resolved_field, value, key); !st.ok()) return st;
      continue;
    }
    if (route.body == "*") {
      return absl::InvalidArgumentError(
          absl::StrCat("query parameter \"", key, "\" not allowed: the body is the whole request"));
    }
    const std::string field_path = ProtoNamePath(type, key);
    for (const auto& [bound, unused] : bindings) {
      if (Covers(bound, field_path)) {
        return absl::InvalidArgumentError(
            absl::StrCat("query parameter \"", key, "\" is already bound by the path"));
      }
    }
    if (!route.body.empty()) {
      if (Covers(route.body, field_path)) {
        return absl::InvalidArgumentError(
            absl::StrCat("query parameter \"", key, "\" is already bound by the body"));
      }
    }
    if (auto st = ResolvePath(*msg, key, &resolved_msg, &resolved_field); !st.ok()) return st;
    resolved_key = &key;
    if (auto st = SetLeaf(*resolved_msg, resolved_field, value, key); !st.ok()) return st;
  }

  for (const auto& [field_path, value] : bindings) {
    if (auto st = SetFieldFromText(*msg, field_path, value); !st.ok()) return st;
  }
  return msg;
}

absl::StatusOr<std::string> ResponseToJson(const Route& route, const Message& response) {
  const Message* out = &response;
  if (!route.response_body.empty()) {
    const FieldDescriptor* f = response.GetDescriptor()->FindFieldByName(route.response_body);
    out = &response.GetReflection()->GetMessage(response, f);
  }
  std::string json;
  if (FastMessageToJson(*out, &json)) return json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.always_print_primitive_fields = true;
  auto st = google::protobuf::util::MessageToJsonString(*out, &json, opts);
  if (!st.ok())
    return absl::InternalError(absl::StrCat("encoding the response: ", st.message().as_string()));
  return json;
}

absl::StatusOr<std::string> ResponseBytesToJson(const Route& route, std::string_view wire) {
  const Descriptor* type = route.method->output_type();
  if (route.response_body.empty()) {
    std::string json;
    json.reserve(wire.size() * 5 / 2 + 64);  // JSON of our answers is ~2-2.5x their bytes
    if (FastWireToJson(type, wire, &json)) return json;
  }
  google::protobuf::Arena arena;  // hundreds of small objects, freed at once
  Message* msg = NewMessageOn(type, &arena);
  if (wire.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !msg->ParseFromArray(wire.data(), static_cast<int>(wire.size()))) {
    return absl::DataLossError("undecodable upstream response");
  }
  return ResponseToJson(route, *msg);
}

std::string StatusJson(int code, absl::string_view message, absl::string_view details_bin) {
  google::rpc::Status status;
  // Messages may quote request text; a proto3 string must be UTF-8.
  const std::string text = RepairUtf8(AsStd(message));
  google::protobuf::util::JsonPrintOptions opts;
  opts.always_print_primitive_fields = true;
  std::string json;
  if (!details_bin.empty() && status.ParseFromString(std::string(details_bin))) {
    status.set_code(code);
    status.set_message(text);
    if (google::protobuf::util::MessageToJsonString(status, &json, opts).ok()) return json;
  }
  status.Clear();
  status.set_code(code);
  status.set_message(text);
  json.clear();
  (void)google::protobuf::util::MessageToJsonString(status, &json, opts);
  return json;
}

int HttpStatusFromGrpc(int grpc_code) {
  switch (grpc_code) {
    case 0:
      return 200;  // OK
    case 1:
      return 499;  // CANCELLED
    case 2:
      return 500;  // UNKNOWN
    case 3:
      return 400;  // INVALID_ARGUMENT
    case 4:
      return 504;  // DEADLINE_EXCEEDED
    case 5:
      return 404;  // NOT_FOUND
    case 6:
      return 409;  // ALREADY_EXISTS
    case 7:
      return 403;  // PERMISSION_DENIED
    case 8:
      return 429;  // RESOURCE_EXHAUSTED
    case 9:
      return 400;  // FAILED_PRECONDITION
    case 10:
      return 409;  // ABORTED
    case 11:
      return 400;  // OUT_OF_RANGE
    case 12:
      return 501;  // UNIMPLEMENTED
    case 13:
      return 500;  // INTERNAL
    case 14:
      return 503;  // UNAVAILABLE
    case 15:
      return 500;  // DATA_LOSS
    case 16:
      return 401;  // UNAUTHENTICATED
    default:
      return 500;
  }
}

}  // namespace iss::gateway
