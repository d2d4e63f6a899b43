// Owns: reading a service's configuration from environment variables (12-factor).
//
// Each service declares its variables once (name, default, help, validator);
// Load() reads them all and reports every bad one in a single error, naming the
// variable, the value seen and what was expected. `--help` prints the table.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/net.h"

namespace iss {

// Where values come from; tests pass a map instead of the real environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();
EnvLookup MapEnv(std::map<std::string, std::string> values);

class EnvConfig {
 public:
  explicit EnvConfig(std::string service_name);
  ~EnvConfig();
  EnvConfig(const EnvConfig&) = delete;
  EnvConfig& operator=(const EnvConfig&) = delete;

  // Declarations: each returns a stable pointer filled in by Load(). `secret`
  // values are never printed. A variable without a default is required.
  const std::string* String(std::string name, std::optional<std::string> def, std::string help,
                            bool secret = false);
  // One of `choices`.
  const std::string* Enum(std::string name, std::string def, std::vector<std::string> choices,
                          std::string help);
  const int64_t* Int(std::string name, std::optional<int64_t> def, int64_t min, int64_t max,
                     std::string help);
  const double* Double(std::string name, std::optional<double> def, double min, double max,
                       std::string help);
  const bool* Bool(std::string name, bool def, std::string help);
  // Go-style durations: "250ms", "5s", "15m", "1h30m".
  const absl::Duration* Duration(std::string name, std::optional<absl::Duration> def,
                                 absl::Duration min, absl::Duration max, std::string help);
  // "host:port"; port 0 allowed (an ephemeral port, for tests).
  const std::string* Address(std::string name, std::optional<std::string> def, std::string help);

  // Binding declarations: the variable's default is what `*out` holds when
  // it is declared, so a setting's default lives once, in the options struct
  // that uses it; Load() writes the value read into `*out`. A service's
  // config then is one struct filled by one list of Bind calls.
  void Bind(std::string* out, std::string name, std::string help, bool secret = false);
  void BindRequired(std::string* out, std::string name, std::string help, bool secret = false);
  void BindEnum(std::string* out, std::string name, std::vector<std::string> choices,
                std::string help);
  void BindAddress(std::string* out, std::string name, std::string help);
  void BindAddress(net::HostPort* out, std::string name, std::string help);
  // A comma-separated list (blanks around items ignored, empty items dropped).
  void BindList(std::vector<std::string>* out, std::string name, std::string help);
  void Bind(bool* out, std::string name, std::string help);
  void Bind(double* out, std::string name, double min, double max, std::string help);
  void Bind(absl::Duration* out, std::string name, absl::Duration min, absl::Duration max,
            std::string help);
  template <typename T,
            typename = std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>>
  void Bind(T* out, std::string name, int64_t min, int64_t max, std::string help) {
    const int64_t* v = Int(std::move(name), static_cast<int64_t>(*out), min, max, std::move(help));
    binds_.push_back([out, v] { *out = static_cast<T>(*v); });
  }

  // A rule across settings ("REPLAY_FILE required when SOURCE=replay"), run
  // after every variable parsed and was bound: a non-empty answer is one more
  // error line, which should start with the variable it blames.
  void Check(std::function<std::string()> check) { checks_.push_back(std::move(check)); }

  // Reads every declared variable. On failure the message lists one line per
  // bad variable: `ISS_X="abc": expected an integer in [1, 100]`.
  absl::Status Load(const EnvLookup& env = ProcessEnv());

  // The markdown-ish table printed by --help (name, default, description).
  std::string HelpText() const;

  // Handles `--help`/`-h` (prints HelpText, returns true: caller exits 0) and
  // rejects unknown arguments (prints usage, exits 2).
  bool HandleArgs(int argc, char** argv) const;

  // Loads from the process environment or prints the error and exits 2.
  void LoadOrExit(int argc, char** argv);

  // Variables and their effective values, secrets masked, for the start-up log.
  std::vector<std::pair<std::string, std::string>> Effective() const;

 private:
  struct Var;
  Var& Add(std::string name, std::string help);
  std::string service_;
  std::vector<std::unique_ptr<Var>> vars_;
  std::vector<std::function<void()>> binds_;          // run after a successful Load()
  std::vector<std::function<std::string()>> checks_;  // then these
};

// Parses "1h30m", "250ms", "5s", "2m", "0". Exposed for tests and other parsers.
absl::StatusOr<absl::Duration> ParseDuration(std::string_view text);

}  // namespace iss
