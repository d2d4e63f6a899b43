// Owns: one google.api.http path template ("/v1/{name=shelves/*}/books:list"),
// parsed once, and matching request paths against it.
//
// Grammar (google/api/http.proto):
//   Template = "/" Segments [ Verb ] ;  Segments = Segment { "/" Segment } ;
//   Segment  = "*" | "**" | LITERAL | Variable ;
//   Variable = "{" FieldPath [ "=" Segments ] "}" ;  Verb = ":" LITERAL ;
// `{x}` is `{x=*}`. `**` must be the last segment. Matched variable values are
// percent-decoded ('/' stays encoded inside multi-segment variables, as
// grpc-gateway does).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace iss::gateway {

class PathTemplate {
 public:
  struct Variable {
    std::string field_path;  // "name" or "book.shelf"
    size_t begin = 0;        // first segment index bound
    size_t end = 0;          // one past the last segment bound (end == size: through `**`)
  };
  using Bindings = std::vector<std::pair<std::string, std::string>>;  // field path -> value

  static absl::StatusOr<PathTemplate> Parse(absl::string_view text);

  // Bindings when `path` (no query string) matches, nullopt otherwise.
  std::optional<Bindings> Match(absl::string_view path) const;

  const std::string& text() const { return text_; }
  const std::vector<Variable>& variables() const { return variables_; }
  const std::string& verb() const { return verb_; }
  // The template in OpenAPI form: "/v1/{name}/books:list".
  std::string OpenApiPath() const;
  // Higher = more specific; used to order templates that could both match.
  int Specificity() const;

 private:
  enum class Kind { kLiteral, kWildcard, kDoubleWildcard };
  struct Segment {
    Kind kind;
    std::string literal;
  };
  std::string text_;
  std::vector<Segment> segments_;
  std::vector<Variable> variables_;
  std::string verb_;
};

// Percent-decodes `in`; `keep_slash` leaves "%2F" as is. Error on bad escapes.
absl::StatusOr<std::string> PercentDecode(absl::string_view in, bool keep_slash = false);

}  // namespace iss::gateway
