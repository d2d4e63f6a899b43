// Owns: percent-encoding (RFC 3986 2.1), written once for every place that
// escapes bytes this way: TLCP request parameters and values, OAuth 1.0a
// signatures, XRPC query strings, the simulator's notification arguments.
// Each caller says which bytes it keeps as they are; the rest become "%XX"
// with upper-case hex, as RFC 3986 recommends. Header-only and free of
// dependencies, so the pure TLCP codec can use it too.
#pragma once

#include <string>
#include <string_view>

namespace iss::percent {

// RFC 3986 unreserved characters: ALPHA / DIGIT / "-" / "." / "_" / "~".
constexpr bool Unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Appends "%XX".
inline void AppendEscaped(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out.push_back('%');
  out.push_back(kHex[c >> 4]);
  out.push_back(kHex[c & 0xF]);
}

// Every byte for which `keep(byte)` is false becomes "%XX".
template <typename Keep>
std::string Encode(std::string_view text, Keep keep) {
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (keep(c)) {
      out.push_back(ch);
    } else {
      AppendEscaped(out, c);
    }
  }
  return out;
}

// Everything but the unreserved characters escaped (OAuth 1.0a, forms).
inline std::string EncodeUnreserved(std::string_view text) { return Encode(text, Unreserved); }

}  // namespace iss::percent
