#include "services/peebot/composer.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace iss::peebot {
namespace {

// Placeholders: {rise} percent points, {ml} estimated millilitres, {time} UTC
// start "HH:MM", {level} end level, {folded} " (+N more since the last post)".
const std::vector<std::string>& DefaultTemplates() {
  static const auto* t = new std::vector<std::string>{
      "\xF0\x9F\x9A\xBD Urine tank on the ISS just rose {rise}% (~{ml} ml) at {time} UTC, now at "
      "{level}%.{folded} {joke}",
      "Someone aboard the ISS just went: +{rise}% in the urine tank (~{ml} ml) at {time} UTC."
      "{folded} {joke}",
      "Orbital bladder report: {time} UTC, tank +{rise}% (~{ml} ml), level {level}%.{folded} "
      "{joke}",
  };
  return *t;
}

const std::vector<std::string>& DefaultJokes() {
  static const auto* j = new std::vector<std::string>{
      "Going at 28,000 km/h and still had to go.",
      "Today's coffee, tomorrow's coffee: the water recovery system never sleeps.",
      "Microgravity: where even a bathroom break needs a checklist.",
      "Houston, we have a release.",
      "One small step for a crew member, one giant leak for the tank.",
      "Low Earth orbit, high urgency.",
      "The view is spectacular. So is the plumbing.",
      "Recycled into drinking water soon. Cheers!",
      "Nature called. It had to use the space network.",
      "Another data point for the most important dashboard in orbit.",
  };
  return *j;
}

std::string Number(double v) {
  if (std::fabs(v - std::round(v)) < 1e-9) return absl::StrCat(static_cast<int64_t>(std::round(v)));
  return absl::StrFormat("%.1f", v);
}

// Cuts at a code point boundary so the result has at most `max` code points.
std::string TruncateCodePoints(const std::string& s, size_t max) {
  size_t count = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (count == max) return s.substr(0, i);
      ++count;
    }
  }
  return s;
}

}  // namespace

size_t CodePoints(const std::string& utf8) {
  size_t n = 0;
  for (unsigned char c : utf8) n += (c & 0xC0) != 0x80;
  return n;
}

PostComposer::PostComposer() : PostComposer(DefaultTemplates(), DefaultJokes()) {}

PostComposer::PostComposer(std::vector<std::string> templates, std::vector<std::string> jokes)
    : templates_(std::move(templates)), jokes_(std::move(jokes)) {
  if (templates_.empty()) templates_.push_back("Urine tank +{rise}% at {time} UTC.{folded} {joke}");
  if (jokes_.empty()) jokes_.push_back("");
}

std::string PostComposer::Fill(const std::string& tmpl, const Detection& d, int folded,
                               const std::string& joke) const {
  const std::string folded_text =
      folded > 0 ? absl::StrCat(" (+", folded, " more since the last post)") : "";
  std::string text = absl::StrReplaceAll(
      tmpl, {{"{rise}", Number(d.rise)},
             {"{ml}", Number(std::round(d.volume_ml))},
             {"{time}", absl::FormatTime("%H:%M", d.start_time, absl::UTCTimeZone())},
             {"{level}", Number(d.end_level)},
             {"{folded}", folded_text},
             {"{joke}", joke}});
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

PostComposer::Composed PostComposer::Compose(const Detection& d, int folded, int joke_index,
                                             const std::string& previous_text) const {
  const int n = static_cast<int>(jokes_.size());
  // Try the jokes in rotation order until the text differs from the previous one.
  for (int k = 0; k < n + 1; ++k) {
    const int j = ((joke_index + k) % n + n) % n;
    const std::string& tmpl = templates_[static_cast<size_t>(j) % templates_.size()];
    std::string text = Fill(tmpl, d, folded, jokes_[j]);
    if (CodePoints(text) > kMaxPostChars) text = Fill(tmpl, d, folded, "");  // drop the joke
    text = TruncateCodePoints(text, kMaxPostChars);
    if (text != previous_text) return {text, j};
  }
  // Every variant equals the previous text (a single template and joke):
  // make it differ by the detection's own id.
  std::string text = TruncateCodePoints(
      absl::StrCat(Fill(templates_[0], d, folded, ""), " #", d.detection_id.substr(0, 6)),
      kMaxPostChars);
  return {text, joke_index};
}

std::string PostComposer::TestText(absl::Time now, const std::string& previous_text) const {
  std::string text = absl::StrCat("Pee-Bot test post at ",
                                  absl::FormatTime("%Y-%m-%d %H:%M:%S", now, absl::UTCTimeZone()),
                                  " UTC. Nothing to see here (yet).");
  if (text == previous_text) text += " Again.";
  return text;
}

}  // namespace iss::peebot
