#include "gateway/json_printer.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/json_string.h"
#include "gateway/json_values.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/time_util.h"

// FastMessageToJson: a message printed through reflection. Its twin from the
// wire format is wire_json.cc; json_values.h holds what both write.
// The helpers live in json_internal, beside what json_values.h declares.
namespace iss::gateway::json_internal {
namespace {

void AppendMessage(std::string& out, const Message& msg);

// One value of field `f` (element `index` when repeated, -1 otherwise).
void AppendValue(std::string& out, const Message& msg, const FieldDescriptor* f, int index) {
  const Reflection* r = msg.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      AppendInt(out, rep ? r->GetRepeatedInt32(msg, f, index) : r->GetInt32(msg, f), false);
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      AppendInt(out, rep ? r->GetRepeatedUInt32(msg, f, index) : r->GetUInt32(msg, f), false);
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      AppendInt(out, rep ? r->GetRepeatedInt64(msg, f, index) : r->GetInt64(msg, f), true);
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      AppendInt(out, rep ? r->GetRepeatedUInt64(msg, f, index) : r->GetUInt64(msg, f), true);
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      AppendDouble(out, rep ? r->GetRepeatedDouble(msg, f, index) : r->GetDouble(msg, f));
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      AppendFloat(out, rep ? r->GetRepeatedFloat(msg, f, index) : r->GetFloat(msg, f));
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out += (rep ? r->GetRepeatedBool(msg, f, index) : r->GetBool(msg, f)) ? "true" : "false";
      break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int n = rep ? r->GetRepeatedEnumValue(msg, f, index) : r->GetEnumValue(msg, f);
      if (const auto* ev = f->enum_type()->FindValueByNumber(n)) {
        absl::StrAppend(&out, "\"", ev->name(), "\"");
      } else {
        absl::StrAppend(&out, n);
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = rep ? r->GetRepeatedStringReference(msg, f, index, &scratch)
                                 : r->GetStringReference(msg, f, &scratch);
      if (f->type() == FieldDescriptor::TYPE_BYTES) {
        absl::StrAppend(&out, "\"", absl::Base64Escape(s), "\"");
      } else {
        AppendJsonString(out, s);
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      AppendMessage(out, rep ? r->GetRepeatedMessage(msg, f, index) : r->GetMessage(msg, f));
      break;
  }
}

// Map keys are always JSON strings; 64-bit integers already print quoted.
void AppendMapKey(std::string& out, const Message& entry) {
  const FieldDescriptor* k = entry.GetDescriptor()->field(0);
  const auto t = k->cpp_type();
  if (t == FieldDescriptor::CPPTYPE_STRING || t == FieldDescriptor::CPPTYPE_INT64 ||
      t == FieldDescriptor::CPPTYPE_UINT64) {
    AppendValue(out, entry, k, -1);
    return;
  }
  out.push_back('"');
  AppendValue(out, entry, k, -1);
  out.push_back('"');
}

void AppendMessage(std::string& out, const Message& msg) {
  const Descriptor* d = msg.GetDescriptor();
  const Reflection* r = msg.GetReflection();
  const WellKnown wk = d->well_known_type();
  if (wk == Descriptor::WELLKNOWNTYPE_TIMESTAMP || wk == Descriptor::WELLKNOWNTYPE_DURATION) {
    // TimeUtil prints exactly what the JSON mapping wants (0/3/6/9 digits).
    const int64_t secs = r->GetInt64(msg, d->field(0));
    const int32_t nanos = r->GetInt32(msg, d->field(1));
    if (wk == Descriptor::WELLKNOWNTYPE_TIMESTAMP) {
      AppendTimestamp(out, secs, nanos);
    } else {
      google::protobuf::Duration du;
      du.set_seconds(secs);
      du.set_nanos(nanos);
      absl::StrAppend(&out, "\"", google::protobuf::util::TimeUtil::ToString(du), "\"");
    }
    return;
  }
  if (IsWrapper(d)) return AppendValue(out, msg, d->field(0), -1);
  if (wk == Descriptor::WELLKNOWNTYPE_FIELDMASK) {
    std::string joined;
    const FieldDescriptor* paths = d->field(0);
    for (int i = 0; i < r->FieldSize(msg, paths); ++i) {
      if (i) joined += ",";
      joined += CamelPath(r->GetRepeatedString(msg, paths, i));
    }
    AppendJsonString(out, joined);
    return;
  }
  out.push_back('{');
  bool first = true;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->is_repeated()) {
      // Empty repeated fields and maps are printed too ([] / {}).
    } else if (f->has_presence() && !r->HasField(msg, f)) {
      continue;  // unset messages, oneof members, proto3 `optional`
    }
    if (!first) out.push_back(',');
    first = false;
    absl::StrAppend(&out, "\"", f->json_name(), "\":");
    if (f->is_map()) {
      out.push_back('{');
      const int n = r->FieldSize(msg, f);
      for (int j = 0; j < n; ++j) {
        const Message& entry = r->GetRepeatedMessage(msg, f, j);
        if (j) out.push_back(',');
        AppendMapKey(out, entry);
        out.push_back(':');
        AppendValue(out, entry, entry.GetDescriptor()->field(1), -1);
      }
      out.push_back('}');
    } else if (f->is_repeated()) {
      out.push_back('[');
      const int n = r->FieldSize(msg, f);
      for (int j = 0; j < n; ++j) {
        if (j) out.push_back(',');
        AppendValue(out, msg, f, j);
      }
      out.push_back(']');
    } else {
      AppendValue(out, msg, f, -1);
    }
  }
  out.push_back('}');
}

}  // namespace
}  // namespace iss::gateway::json_internal

namespace iss::gateway {

bool FastMessageToJson(const google::protobuf::Message& msg, std::string* out) {
  if (!json_internal::SupportedCached(msg.GetDescriptor())) return false;
  json_internal::AppendMessage(*out, msg);
  return true;
}

}  // namespace iss::gateway
