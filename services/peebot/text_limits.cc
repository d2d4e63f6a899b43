#include "services/peebot/text_limits.h"

#include <unicode/brkiter.h>
#include <unicode/locid.h>
#include <unicode/utext.h>

#include <memory>
#include <vector>

#include "common/utf8.h"

namespace iss::peebot {
namespace {

constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // U+2026

// One character-boundary iterator per thread: creating one loads rule data,
// far dearer than the text we measure.
icu::BreakIterator* GraphemeIterator() {
  thread_local std::unique_ptr<icu::BreakIterator> it = [] {
    UErrorCode status = U_ZERO_ERROR;
    std::unique_ptr<icu::BreakIterator> bi(
        icu::BreakIterator::createCharacterInstance(icu::Locale::getRoot(), status));
    if (U_FAILURE(status)) bi.reset();
    return bi;
  }();
  return it.get();
}

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Byte offsets of the grapheme boundaries of `s`, from 0 to s.size(). Falls
// back to code points if ICU is unusable (no rule data).
std::vector<size_t> GraphemeBoundaries(std::string_view s) {
  std::vector<size_t> out;
  icu::BreakIterator* bi = GraphemeIterator();
  UErrorCode status = U_ZERO_ERROR;
  UText* text = bi == nullptr
                    ? nullptr
                    : utext_openUTF8(nullptr, s.data(), static_cast<int64_t>(s.size()), &status);
  if (text != nullptr && U_SUCCESS(status)) {
    bi->setText(text, status);
    if (U_SUCCESS(status)) {
      // UTF-8 UText indexes are byte offsets.
      for (int32_t b = bi->first(); b != icu::BreakIterator::DONE; b = bi->next()) {
        out.push_back(static_cast<size_t>(b));
      }
    }
  }
  if (text != nullptr) utext_close(text);
  if (out.empty() || out.back() != s.size()) {
    out.clear();
    for (size_t i = 0; i < s.size(); ++i) {
      if (!IsContinuation(static_cast<unsigned char>(s[i]))) out.push_back(i);
    }
    out.push_back(s.size());
    if (out.front() != 0) out.insert(out.begin(), 0);
  }
  return out;
}

size_t CountCodePoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += !IsContinuation(c);
  return n;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsAsciiAlnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool IsWordChar(char c) { return IsAsciiAlnum(c) || c == '_'; }

bool StartsWithNoCase(std::string_view s, size_t i, std::string_view prefix) {
  if (s.size() - i < prefix.size()) return false;
  for (size_t k = 0; k < prefix.size(); ++k) {
    char c = s[i + k];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[k]) return false;
  }
  return true;
}

// Length of the http(s) URL starting at s[i], or 0.
size_t UrlAt(std::string_view s, size_t i) {
  if (i > 0 && (IsWordChar(s[i - 1]) || s[i - 1] == '/' || s[i - 1] == '@')) return 0;
  size_t scheme = 0;
  if (StartsWithNoCase(s, i, "https://")) {
    scheme = 8;
  } else if (StartsWithNoCase(s, i, "http://")) {
    scheme = 7;
  } else {
    return 0;
  }
  size_t end = i + scheme;
  while (end < s.size() && !IsSpace(s[end])) ++end;
  // Trailing punctuation ends the sentence, not the URL.
  while (end > i + scheme &&
         std::string_view(".,:;!?)]}'\"").find(s[end - 1]) != std::string_view::npos) {
    --end;
  }
  if (end == i + scheme) return 0;  // "https://" alone is no URL
  return end - i;
}

// Length of a remote mention `@user@domain` at s[i], and of its `@user` part.
size_t MentionAt(std::string_view s, size_t i, size_t* local_len) {
  if (s[i] != '@' || (i > 0 && (IsWordChar(s[i - 1]) || s[i - 1] == '@'))) return 0;
  size_t j = i + 1;
  while (j < s.size() && (IsWordChar(s[j]) || s[j] == '.' || s[j] == '-')) ++j;
  while (j > i + 1 && (s[j - 1] == '.' || s[j - 1] == '-')) --j;
  if (j == i + 1 || j >= s.size() || s[j] != '@') return 0;
  *local_len = j - i;
  size_t k = j + 1;
  while (k < s.size() && (IsAsciiAlnum(s[k]) || s[k] == '.' || s[k] == '-')) ++k;
  while (k > j + 1 && (s[k - 1] == '.' || s[k - 1] == '-')) --k;
  const std::string_view domain = s.substr(j + 1, k - j - 1);
  if (domain.find('.') == std::string_view::npos) return 0;
  return k - i;
}

struct Span {
  size_t begin = 0;
  size_t end = 0;
};

std::vector<Span> UrlSpans(std::string_view s) {
  std::vector<Span> spans;
  for (size_t i = 0; i < s.size();) {
    if (const size_t n = UrlAt(s, i); n > 0) {
      spans.push_back({i, i + n});
      i += n;
    } else {
      ++i;
    }
  }
  return spans;
}

// The text as the network counts it: URLs and remote mentions rewritten.
std::string Countable(std::string_view s, const TextLimit& limit) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (limit.url_units > 0) {
      if (const size_t n = UrlAt(s, i); n > 0) {
        out.append(limit.url_units, 'x');
        i += n;
        continue;
      }
    }
    size_t local = 0;
    if (limit.short_mentions) {
      if (const size_t n = MentionAt(s, i, &local); n > 0) {
        out.append(s.substr(i, local));
        i += n;
        continue;
      }
    }
    out.push_back(s[i++]);
  }
  return out;
}

}  // namespace

// 280 = the composer's kMaxPostChars (checked by the test).
TextLimit XTextLimit() { return {TextLimit::Unit::kCodePoints, 280, 0, 0, false}; }
TextLimit BlueskyTextLimit() { return {TextLimit::Unit::kGraphemes, 300, 3000, 0, false}; }
TextLimit MastodonTextLimit(size_t max_characters, size_t characters_per_url) {
  return {TextLimit::Unit::kGraphemes, max_characters, 0, characters_per_url, true};
}

size_t Graphemes(std::string_view utf8) { return GraphemeBoundaries(utf8).size() - 1; }

size_t MeasureText(std::string_view utf8, const TextLimit& limit) {
  std::string rewritten;
  std::string_view counted = utf8;
  if (limit.url_units > 0 || limit.short_mentions) {
    rewritten = Countable(utf8, limit);
    counted = rewritten;
  }
  return limit.unit == TextLimit::Unit::kGraphemes ? Graphemes(counted) : CountCodePoints(counted);
}

bool FitsLimit(std::string_view utf8, const TextLimit& limit) {
  if (limit.max_bytes > 0 && utf8.size() > limit.max_bytes) return false;
  return MeasureText(utf8, limit) <= limit.max_units;
}

std::string FitText(std::string_view utf8, const TextLimit& limit) {
  const std::string text = RepairUtf8(utf8);
  if (FitsLimit(text, limit)) return text;
  const std::vector<size_t> bounds = GraphemeBoundaries(text);
  const std::vector<Span> urls = limit.url_units > 0 ? UrlSpans(text) : std::vector<Span>{};
  auto candidate = [&](size_t k) {
    size_t cut = bounds[k];
    for (const Span& u : urls) {
      if (u.begin < cut && cut < u.end) cut = u.begin;  // a cut link would lead elsewhere
    }
    while (cut > 0 && IsSpace(text[cut - 1])) --cut;
    return std::string(text.substr(0, cut)).append(kEllipsis);
  };
  // The whole text (k = last) does not fit. Largest k whose candidate fits;
  // `lo` is always a fitting one (every answer is checked).
  size_t lo = 0;
  size_t hi = bounds.size() - 1;
  if (!FitsLimit(candidate(0), limit)) return "";
  while (hi - lo > 1) {
    const size_t mid = lo + (hi - lo) / 2;
    if (FitsLimit(candidate(mid), limit)) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return candidate(lo);
}

}  // namespace iss::peebot
