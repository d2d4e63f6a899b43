// Owns: writing a string as a JSON string literal, the one escaper of the
// platform (logs, health answers, the gateway's JSON). Header-only, so the
// gateway's pure transcoding library uses it without linking iss_common.
//
// Escapes '"', '\\' and control characters (\n \r \t \b \f by name, others as
// \u00XX), as protobuf's JSON printer does; every other byte is copied as is
// (callers hand in UTF-8). Plain text is scanned 8 bytes at a time: most
// strings have nothing to escape.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace iss {
namespace json_internal {

// Whether any of the 8 bytes of `w` is a control character, '"' or '\\'
// (exact: the classic "has a byte less than n / equal to c" word tricks).
inline bool NeedsEscape8(uint64_t w) {
  constexpr uint64_t k01 = 0x0101010101010101ULL, k80 = 0x8080808080808080ULL;
  const uint64_t quote = w ^ (k01 * '"'), backslash = w ^ (k01 * '\\');
  return (((w - k01 * 0x20) & ~w) | ((quote - k01) & ~quote) | ((backslash - k01) & ~backslash)) &
         k80;
}

}  // namespace json_internal

inline void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t run = 0;  // start of the pending run of characters that need no escape
  size_t i = 0;
  while (i < s.size()) {
    if (i + 8 <= s.size()) {  // 8 plain bytes at a time, the common case
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if (!json_internal::NeedsEscape8(w)) {
        i += 8;
        continue;
      }
    }
    const size_t stop = std::min(s.size(), i + 8);
    for (; i < stop; ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c >= 0x20 && c != '"' && c != '\\') continue;
      out.append(s.data() + run, i - run);
      run = i + 1;
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xF]);
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

}  // namespace iss
