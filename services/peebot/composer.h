// Owns: the words of a post: templates filled with a detection's
// figures plus a joke from a rotating set. Every text is at most 280
// characters (X counts code points; ours are ASCII plus a few emoji, counted
// as code points here) and never equal to the previous post's text.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "services/peebot/detector.h"

namespace iss::peebot {

inline constexpr size_t kMaxPostChars = 280;

// Number of Unicode code points in UTF-8 text.
size_t CodePoints(const std::string& utf8);

class PostComposer {
 public:
  PostComposer();  // the built-in templates and jokes
  PostComposer(std::vector<std::string> templates, std::vector<std::string> jokes);

  struct Composed {
    std::string text;
    int joke_index = 0;
  };
  // `joke_index` is where the rotation stands (the caller stores the index of
  // the last joke used and passes last + 1); `folded` is how many detections
  // the cooldown held back since the previous post.
  Composed Compose(const Detection& d, int folded, int joke_index,
                   const std::string& previous_text) const;

  // A text for the admin's test post.
  std::string TestText(absl::Time now, const std::string& previous_text) const;

  size_t joke_count() const { return jokes_.size(); }

 private:
  std::string Fill(const std::string& tmpl, const Detection& d, int folded,
                   const std::string& joke) const;
  std::vector<std::string> templates_;
  std::vector<std::string> jokes_;
};

}  // namespace iss::peebot
