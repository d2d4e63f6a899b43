// Owns: reading and writing the JSON of network APIs without exceptions
// (nlohmann's dump throws on invalid UTF-8, and an answer may lack any field).
// Header-only.
#pragma once

#include <string>

#include "nlohmann/json.hpp"

namespace iss::peebot {

// j[name] when j is an object holding a string there, else "".
inline std::string JsonString(const nlohmann::json& j, const char* name) {
  if (j.is_object() && j.contains(name) && j[name].is_string()) return j[name].get<std::string>();
  return "";
}

// Compact serialization; invalid UTF-8 becomes U+FFFD instead of throwing.
template <typename Json>
std::string JsonDump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace iss::peebot
