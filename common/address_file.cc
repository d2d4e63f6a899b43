#include "common/address_file.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "common/net.h"
#include "common/runtime.h"

namespace iss {

void BindAddressFile(EnvConfig& cfg, std::string* path) {
  cfg.Bind(path, "ISS_ADDRESS_FILE",
           "If set, once every listener is up the addresses they bound (port 0 = any free port) "
           "are written to this file as name=host:port lines");
}

absl::Status WriteAddressFile(const std::string& path,
                              const std::vector<BoundListener>& listeners) {
  if (path.empty()) return absl::OkStatus();
  std::string text;
  for (const BoundListener& l : listeners) {
    absl::StatusOr<net::HostPort> hp = net::ParseHostPort(l.configured);
    if (!hp.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(l.name, " address \"", l.configured, "\": ", hp.status().message()));
    }
    hp->port = static_cast<uint16_t>(l.port);
    absl::StrAppend(&text, l.name, "=", hp->ToString(), "\n");
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out.good()) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  // Readers poll for `path`: they see it whole or not at all.
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

void WriteAddressFileOrExit(const std::string& path, const std::vector<BoundListener>& listeners) {
  if (absl::Status s = WriteAddressFile(path, listeners); !s.ok()) {
    Fail("cannot write ISS_ADDRESS_FILE", s);
  }
}

absl::StatusOr<std::map<std::string, std::string>> ReadAddressFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("no address file ", path));
  std::map<std::string, std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find('=');
    if (eq == std::string::npos) {
      return absl::DataLossError(absl::StrCat(path, ": not name=host:port: \"", line, "\""));
    }
    out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

}  // namespace iss
