// Owns: the dashboard's static files: compiled into the binary from
// gateway/web (default), or read from a folder (ISS_GATEWAY_WEB_ROOT) so the
// page can be edited without rebuilding. Paths are confined to that folder.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include "absl/strings/string_view.h"

namespace iss::gateway {

struct EmbeddedFile {
  absl::string_view path;  // "/index.html"
  absl::string_view data;
};
extern const EmbeddedFile kEmbeddedWebFiles[];
extern const size_t kEmbeddedWebFileCount;

class WebAssets {
 public:
  struct Asset {
    std::string body;
    std::string content_type;
  };
  // `root` empty = the embedded files.
  explicit WebAssets(std::string root) : root_(std::move(root)) {}

  // `path` is the URL path ("/" = "/index.html"); nullopt when absent or when
  // the path tries to leave the root ("..", backslashes, NUL) or names a
  // dotfile (any segment starting with '.').
  std::optional<Asset> Find(absl::string_view path) const;

  static std::string ContentType(absl::string_view path);

 private:
  std::string root_;
};

}  // namespace iss::gateway
