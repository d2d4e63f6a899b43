// Owns: how long a post is on each network, and cutting a text to fit.
//
//   X          280 code points (the composer's rule, kMaxPostChars).
//   Bluesky    300 extended grapheme clusters (UAX #29, as Intl.Segmenter
//              counts) and 3000 UTF-8 bytes (app.bsky.feed.post `text`).
//   Mastodon   `max_characters` (500 by default; each instance says its own in
//              GET /api/v2/instance) counted in grapheme clusters, where every
//              http(s) URL counts `characters_reserved_per_url` (23) whatever
//              its length and a remote mention `@user@domain` counts as `@user`.
//
// Graphemes come from ICU's BreakIterator (Debian libicu72). Mastodon finds
// URLs with the twitter-text extractor; ours is an approximation (a URL is
// http:// or https:// up to white space, without trailing punctuation), good
// for the texts we write, which carry at most a plain link.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace iss::peebot {

struct TextLimit {
  enum class Unit { kCodePoints, kGraphemes };
  Unit unit = Unit::kCodePoints;
  size_t max_units = 0;
  size_t max_bytes = 0;         // UTF-8 bytes; 0 = no byte limit
  size_t url_units = 0;         // >0: every http(s) URL counts this many units
  bool short_mentions = false;  // `@user@domain` counts as `@user`
};

TextLimit XTextLimit();
TextLimit BlueskyTextLimit();
TextLimit MastodonTextLimit(size_t max_characters = 500, size_t characters_per_url = 23);

// Extended grapheme clusters in UTF-8 text (invalid bytes count as U+FFFD).
size_t Graphemes(std::string_view utf8);

// The text's length in the limit's unit (URL and mention rules applied).
size_t MeasureText(std::string_view utf8, const TextLimit& limit);
bool FitsLimit(std::string_view utf8, const TextLimit& limit);

// `utf8` unchanged when it fits; otherwise its longest prefix, cut on a
// grapheme boundary (never inside a URL, never leaving trailing white space),
// followed by "…", that fits. Invalid UTF-8 is repaired (U+FFFD) first.
std::string FitText(std::string_view utf8, const TextLimit& limit);

}  // namespace iss::peebot
