// Owns: printing protobuf messages as proto3 JSON quickly. Protobuf 3.21's
// MessageToJsonString goes through its generic converter and costs ~6 ms for
// a 300-item GetLatest answer here; this printer walks the message with
// reflection and writes the same JSON (same names, int64 as strings, enum
// names, RFC 3339 timestamps, every populated-or-primitive field printed, as
// with always_print_primitive_fields). Types it does not handle itself
// (Any, Struct, Value, ListValue) make it defer to protobuf's printer; the
// unit test compares both printers on every message shape we use.
// FastWireToJson prints the same straight from the serialized bytes; the unit
// test and tests/fuzz/gateway_fuzz.cc hold it to FastMessageToJson's output.
#pragma once

#include <string>
#include <string_view>

#include "google/protobuf/message.h"

namespace iss::gateway {

// Appends the JSON form of `msg` to `out`; false (and `out` untouched) when
// the message holds a type this printer leaves to protobuf.
bool FastMessageToJson(const google::protobuf::Message& msg, std::string* out);

// The same JSON straight from `wire`, a serialized message of `type`, without
// parsing it into a message first (no allocation per field, no reflection):
// byte for byte what ParseFromString + FastMessageToJson give. Declines
// (false, `out` untouched) whenever that cannot be guaranteed without parsing:
// bytes that do not parse, invalid UTF-8 in a string, a singular message or a
// oneof set twice, maps, proto2, groups, deep nesting, types FastMessageToJson
// leaves to protobuf. The caller then parses and prints the message.
// Like FastMessageToJson, it caches what it learns per type, keyed by the
// descriptor's address: types must live as long as the process (the
// generated pool, or a pool that is never freed).
bool FastWireToJson(const google::protobuf::Descriptor* type, std::string_view wire,
                    std::string* out);

}  // namespace iss::gateway
