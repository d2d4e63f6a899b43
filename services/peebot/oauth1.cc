#include "services/peebot/oauth1.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/percent.h"

namespace iss::peebot {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> PercentDecode(absl::string_view s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return absl::InvalidArgumentError("truncated percent escape");
      const int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return absl::InvalidArgumentError("bad percent escape");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::string PercentEncode(absl::string_view s) {
  return percent::EncodeUnreserved(std::string_view(s.data(), s.size()));
}

absl::StatusOr<BaseUri> NormalizeUrl(absl::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("not an absolute URL: ", url));
  }
  const std::string scheme = absl::AsciiStrToLower(url.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") {
    return absl::InvalidArgumentError(absl::StrCat("unsupported scheme: ", scheme));
  }
  absl::string_view rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find('#'));
  const size_t path_start = rest.find_first_of("/?");
  std::string authority = absl::AsciiStrToLower(rest.substr(0, path_start));
  absl::string_view path_query =
      path_start == absl::string_view::npos ? absl::string_view("/") : rest.substr(path_start);
  if (authority.empty()) return absl::InvalidArgumentError("URL without host");
  if ((scheme == "http" && absl::EndsWith(authority, ":80")) ||
      (scheme == "https" && absl::EndsWith(authority, ":443"))) {
    authority.resize(authority.rfind(':'));
  }
  BaseUri out;
  const size_t q = path_query.find('?');
  absl::string_view path = path_query.substr(0, q);
  if (path.empty()) path = "/";
  out.uri = absl::StrCat(scheme, "://", authority, path);
  if (q != absl::string_view::npos) {
    for (absl::string_view kv : absl::StrSplit(path_query.substr(q + 1), '&', absl::SkipEmpty())) {
      const size_t eq = kv.find('=');
      auto k = PercentDecode(kv.substr(0, eq), true);
      auto v = PercentDecode(eq == absl::string_view::npos ? "" : kv.substr(eq + 1), true);
      if (!k.ok()) return k.status();
      if (!v.ok()) return v.status();
      out.query.emplace_back(*k, *v);
    }
  }
  return out;
}

std::string SignatureBaseString(absl::string_view method, absl::string_view base_uri,
                                const OAuthParams& params) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(params.size());
  for (const auto& [k, v] : params) encoded.emplace_back(PercentEncode(k), PercentEncode(v));
  std::sort(encoded.begin(), encoded.end());
  std::string joined = absl::StrJoin(encoded, "&", [](std::string* out, const auto& kv) {
    absl::StrAppend(out, kv.first, "=", kv.second);
  });
  return absl::StrCat(absl::AsciiStrToUpper(method), "&", PercentEncode(base_uri), "&",
                      PercentEncode(joined));
}

std::string HmacSha1Signature(absl::string_view base_string, absl::string_view consumer_secret,
                              absl::string_view token_secret) {
  const std::string key =
      absl::StrCat(PercentEncode(consumer_secret), "&", PercentEncode(token_secret));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(base_string.data()), base_string.size(), mac,
       &mac_len);
  return absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(mac), mac_len));
}

OAuthParams OAuth1Signer::OAuthFields(absl::string_view nonce, absl::string_view timestamp) const {
  return {{"oauth_consumer_key", creds_.consumer_key},
          {"oauth_nonce", std::string(nonce)},
          {"oauth_signature_method", "HMAC-SHA1"},
          {"oauth_timestamp", std::string(timestamp)},
          {"oauth_token", creds_.token},
          {"oauth_version", "1.0"}};
}

absl::StatusOr<std::string> OAuth1Signer::Signature(absl::string_view method, absl::string_view url,
                                                    const OAuthParams& extra,
                                                    absl::string_view nonce,
                                                    absl::string_view timestamp) const {
  auto base = NormalizeUrl(url);
  if (!base.ok()) return base.status();
  OAuthParams params = OAuthFields(nonce, timestamp);
  params.insert(params.end(), base->query.begin(), base->query.end());
  params.insert(params.end(), extra.begin(), extra.end());
  return HmacSha1Signature(SignatureBaseString(method, base->uri, params), creds_.consumer_secret,
                           creds_.token_secret);
}

absl::StatusOr<std::string> OAuth1Signer::AuthorizationHeader(absl::string_view method,
                                                              absl::string_view url,
                                                              const OAuthParams& extra,
                                                              absl::string_view nonce,
                                                              absl::string_view timestamp) const {
  auto signature = Signature(method, url, extra, nonce, timestamp);
  if (!signature.ok()) return signature.status();
  OAuthParams fields = OAuthFields(nonce, timestamp);
  fields.emplace_back("oauth_signature", *signature);
  std::sort(fields.begin(), fields.end());
  return absl::StrCat("OAuth ", absl::StrJoin(fields, ", ", [](std::string* out, const auto& kv) {
                        absl::StrAppend(out, PercentEncode(kv.first), "=\"",
                                        PercentEncode(kv.second), "\"");
                      }));
}

absl::StatusOr<std::string> OAuth1Signer::AuthorizationHeader(absl::string_view method,
                                                              absl::string_view url,
                                                              const OAuthParams& extra) const {
  unsigned char random[24];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return absl::InternalError("OpenSSL RAND_bytes failed");
  }
  // Alphanumeric nonce: base64 of random bytes without the symbols.
  std::string nonce;
  for (char c : absl::Base64Escape(absl::string_view(reinterpret_cast<char*>(random), 24))) {
    if (std::isalnum(static_cast<unsigned char>(c))) nonce.push_back(c);
  }
  return AuthorizationHeader(method, url, extra, nonce,
                             absl::StrCat(absl::ToUnixSeconds(absl::Now())));
}

absl::StatusOr<std::map<std::string, std::string>> ParseAuthorizationHeader(
    absl::string_view header) {
  absl::string_view rest = absl::StripAsciiWhitespace(header);
  if (!absl::ConsumePrefix(&rest, "OAuth ")) {
    return absl::InvalidArgumentError("Authorization is not an OAuth header");
  }
  std::map<std::string, std::string> out;
  for (absl::string_view part : absl::StrSplit(rest, ',', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    const size_t eq = part.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("bad OAuth parameter: ", part));
    }
    absl::string_view value = part.substr(eq + 1);
    if (value.size() < 2 || value.front() != '"' || value.back() != '"') {
      return absl::InvalidArgumentError(absl::StrCat("unquoted OAuth parameter: ", part));
    }
    auto k = PercentDecode(part.substr(0, eq), false);
    auto v = PercentDecode(value.substr(1, value.size() - 2), false);
    if (!k.ok()) return k.status();
    if (!v.ok()) return v.status();
    out[*k] = *v;
  }
  return out;
}

}  // namespace iss::peebot
