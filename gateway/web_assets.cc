#include "gateway/web_assets.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gateway/path_template.h"

namespace iss::gateway {

std::string WebAssets::ContentType(absl::string_view path) {
  if (absl::EndsWith(path, ".html")) return "text/html; charset=utf-8";
  if (absl::EndsWith(path, ".js")) return "text/javascript; charset=utf-8";
  if (absl::EndsWith(path, ".css")) return "text/css; charset=utf-8";
  if (absl::EndsWith(path, ".svg")) return "image/svg+xml";
  if (absl::EndsWith(path, ".json")) return "application/json";
  if (absl::EndsWith(path, ".png")) return "image/png";
  if (absl::EndsWith(path, ".ico")) return "image/x-icon";
  return "application/octet-stream";
}

std::optional<WebAssets::Asset> WebAssets::Find(absl::string_view raw_path) const {
  auto decoded = PercentDecode(raw_path);
  if (!decoded.ok()) return std::nullopt;
  std::string path;
  path.swap(*decoded);
  if (path.empty() || path[0] != '/') return std::nullopt;
  if (path == "/") path = "/index.html";
  if (path.find('\\') != std::string::npos || path.find('\0') != std::string::npos) {
    return std::nullopt;
  }
  // No segment may start with '.': that refuses "." and ".." (leaving the
  // root) and also dotfiles and dot-folders (.env, .git/, .htpasswd), which a
  // web root on disk may well hold and the dashboard never has.
  for (absl::string_view seg : absl::StrSplit(path, '/')) {
    if (absl::StartsWith(seg, ".")) return std::nullopt;
  }
  if (root_.empty()) {
    for (size_t i = 0; i < kEmbeddedWebFileCount; ++i) {
      if (kEmbeddedWebFiles[i].path == path) {
        return Asset{std::string(kEmbeddedWebFiles[i].data), ContentType(path)};
      }
    }
    return std::nullopt;
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(root_ + path, ec)) return std::nullopt;
  std::ifstream in(root_ + path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream body;
  body << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return Asset{body.str(), ContentType(path)};
}

}  // namespace iss::gateway
