#include "gateway/path_template.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace iss::gateway {
namespace {

bool ValidLiteral(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c == '{' || c == '}' || c == '*' || c == '=' || c == '/') return false;
  }
  return true;
}

bool ValidFieldPath(absl::string_view s) {
  if (s.empty()) return false;
  for (absl::string_view part : absl::StrSplit(s, '.')) {
    if (part.empty() || absl::ascii_isdigit(part[0])) return false;
    for (char c : part) {
      if (!absl::ascii_isalnum(c) && c != '_') return false;
    }
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

absl::StatusOr<std::string> PercentDecode(absl::string_view in, bool keep_slash) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) {
      return absl::InvalidArgumentError(absl::StrCat("bad percent-escape in \"", in, "\""));
    }
    const int hi = HexValue(in[i + 1]);
    const int lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad percent-escape in \"", in, "\""));
    }
    const char c = static_cast<char>(hi * 16 + lo);
    if (keep_slash && c == '/') {
      out.append(in.data() + i, 3);
    } else {
      out.push_back(c);
    }
    i += 2;
  }
  return out;
}

absl::StatusOr<PathTemplate> PathTemplate::Parse(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("path template \"", text, "\": ", why));
  };
  if (text.size() < 2 || text[0] != '/') return bad("must start with '/' and name a segment");

  // The verb is a ':' at brace depth 0 after the last depth-0 '/'.
  int depth = 0;
  size_t last_slash = 0, colon = absl::string_view::npos;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '{') ++depth;
    if (c == '}') --depth;
    if (depth < 0 || depth > 1) return bad("unbalanced or nested braces");
    if (depth == 0 && c == '/') last_slash = i, colon = absl::string_view::npos;
    if (depth == 0 && c == ':' && i > last_slash) colon = i;
  }
  if (depth != 0) return bad("unbalanced braces");

  PathTemplate t;
  t.text_ = std::string(text);
  absl::string_view body = text;
  if (colon != absl::string_view::npos) {
    t.verb_ = std::string(text.substr(colon + 1));
    if (!ValidLiteral(t.verb_)) return bad("empty or invalid verb");
    body = text.substr(0, colon);
  }

  auto add_segment = [&](absl::string_view s) -> absl::Status {
    if (s == "*") {
      t.segments_.push_back({Kind::kWildcard, ""});
    } else if (s == "**") {
      t.segments_.push_back({Kind::kDoubleWildcard, ""});
    } else if (ValidLiteral(s)) {
      t.segments_.push_back({Kind::kLiteral, std::string(s)});
    } else {
      return bad(absl::StrCat("invalid segment \"", s, "\""));
    }
    return absl::OkStatus();
  };

  size_t pos = 1;
  while (pos <= body.size()) {
    if (pos < body.size() && body[pos] == '{') {
      const size_t close = body.find('}', pos);
      const absl::string_view inner = body.substr(pos + 1, close - pos - 1);
      const size_t eq = inner.find('=');
      Variable v;
      v.field_path = std::string(inner.substr(0, eq));
      if (!ValidFieldPath(v.field_path))
        return bad(absl::StrCat("bad field path \"", v.field_path, "\""));
      v.begin = t.segments_.size();
      if (eq == absl::string_view::npos) {
        t.segments_.push_back({Kind::kWildcard, ""});
      } else {
        for (absl::string_view s : absl::StrSplit(inner.substr(eq + 1), '/')) {
          if (auto st = add_segment(s); !st.ok()) return st;
        }
      }
      v.end = t.segments_.size();
      t.variables_.push_back(std::move(v));
      pos = close + 1;
    } else {
      size_t next = body.find('/', pos);
      if (next == absl::string_view::npos) next = body.size();
      if (auto st = add_segment(body.substr(pos, next - pos)); !st.ok()) return st;
      pos = next;
    }
    if (pos == body.size()) break;
    if (body[pos] != '/') return bad("expected '/' after a variable");
    ++pos;
    if (pos == body.size()) return bad("trailing '/'");
  }
  for (size_t i = 0; i + 1 < t.segments_.size(); ++i) {
    if (t.segments_[i].kind == Kind::kDoubleWildcard) return bad("'**' must be the last segment");
  }
  for (const Variable& a : t.variables_) {
    for (const Variable& b : t.variables_) {
      if (&a != &b && a.field_path == b.field_path) return bad("variable bound twice");
    }
  }
  return t;
}

std::optional<PathTemplate::Bindings> PathTemplate::Match(absl::string_view path) const {
  if (path.empty() || path[0] != '/') return std::nullopt;
  path.remove_prefix(1);
  if (!verb_.empty()) {
    const std::string suffix = absl::StrCat(":", verb_);
    if (path.size() <= suffix.size() || path.substr(path.size() - suffix.size()) != suffix) {
      return std::nullopt;
    }
    path.remove_suffix(suffix.size());
  }
  const std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
  const bool tail = !segments_.empty() && segments_.back().kind == Kind::kDoubleWildcard;
  const size_t fixed = tail ? segments_.size() - 1 : segments_.size();
  if (tail ? parts.size() < fixed : parts.size() != fixed) return std::nullopt;

  for (size_t i = 0; i < fixed; ++i) {
    if (parts[i].empty()) return std::nullopt;
    if (segments_[i].kind == Kind::kLiteral) {
      auto decoded = PercentDecode(parts[i]);
      if (!decoded.ok() || *decoded != segments_[i].literal) return std::nullopt;
    }
  }
  Bindings out;
  for (const Variable& v : variables_) {
    const size_t end = (tail && v.end == segments_.size()) ? parts.size() : v.end;
    std::vector<absl::string_view> span(parts.begin() + v.begin, parts.begin() + end);
    auto value = PercentDecode(absl::StrJoin(span, "/"), /*keep_slash=*/end - v.begin != 1);
    if (!value.ok()) return std::nullopt;
    out.emplace_back(v.field_path, *std::move(value));
  }
  return out;
}

std::string PathTemplate::OpenApiPath() const {
  std::string out;
  for (size_t i = 0; i < segments_.size();) {
    const Variable* var = nullptr;
    for (const Variable& v : variables_) {
      if (v.begin == i) var = &v;
    }
    out += "/";
    if (var != nullptr) {
      absl::StrAppend(&out, "{", var->field_path, "}");
      i = std::max(var->end, i + 1);
      continue;
    }
    const Segment& s = segments_[i];
    out += s.kind == Kind::kLiteral ? s.literal : (s.kind == Kind::kWildcard ? "*" : "**");
    ++i;
  }
  if (!verb_.empty()) absl::StrAppend(&out, ":", verb_);
  return out;
}

int PathTemplate::Specificity() const {
  int score = verb_.empty() ? 0 : 1;
  for (const Segment& s : segments_) {
    score += s.kind == Kind::kLiteral ? 3 : (s.kind == Kind::kWildcard ? 2 : 1);
  }
  return score;
}

}  // namespace iss::gateway
