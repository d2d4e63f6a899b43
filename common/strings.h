// Owns: the bridge between std::string_view and absl::string_view.
//
// Debian's Abseil (20220623) is built with its own absl::string_view class, not
// an alias of std::string_view, so absl::StrCat & co. do not accept a
// std::string_view. Convert at the call with AsAbsl(); convert back with AsStd().
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace iss {

inline absl::string_view AsAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}
inline std::string_view AsStd(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace iss
