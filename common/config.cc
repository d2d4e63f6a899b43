#include "common/config.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/strings.h"

extern char** environ;

namespace iss {

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

EnvLookup MapEnv(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

// One declared variable. `parse` validates the text and stores the typed value;
// it returns "" on success or what was expected.
struct EnvConfig::Var {
  std::string name;
  std::string help;
  std::optional<std::string> default_text;  // nullopt = required
  bool secret = false;
  std::string raw;  // effective text after Load()
  std::function<std::string(const std::string&)> parse;
  // Typed storage; the pointer handed out points in here.
  std::variant<std::string, int64_t, double, bool, absl::Duration> value;
};

EnvConfig::EnvConfig(std::string service_name) : service_(std::move(service_name)) {}
EnvConfig::~EnvConfig() = default;

EnvConfig::Var& EnvConfig::Add(std::string name, std::string help) {
  vars_.push_back(std::make_unique<Var>());
  Var& v = *vars_.back();
  v.name = std::move(name);
  v.help = std::move(help);
  return v;
}

const std::string* EnvConfig::String(std::string name, std::optional<std::string> def,
                                     std::string help, bool secret) {
  Var& v = Add(std::move(name), std::move(help));
  v.default_text = def;
  v.secret = secret;
  v.value = std::string();
  Var* vp = &v;
  v.parse = [vp](const std::string& text) {
    vp->value = text;
    return std::string();
  };
  return &std::get<std::string>(v.value);
}

const std::string* EnvConfig::Enum(std::string name, std::string def,
                                   std::vector<std::string> choices, std::string help) {
  Var& v =
      Add(std::move(name), absl::StrCat(help, " (one of: ", absl::StrJoin(choices, ", "), ")"));
  v.default_text = def;
  v.value = std::string();
  Var* vp = &v;
  v.parse = [vp, choices](const std::string& text) {
    for (const auto& c : choices) {
      if (c == text) {
        vp->value = text;
        return std::string();
      }
    }
    return absl::StrCat("one of: ", absl::StrJoin(choices, ", "));
  };
  return &std::get<std::string>(v.value);
}

const int64_t* EnvConfig::Int(std::string name, std::optional<int64_t> def, int64_t min,
                              int64_t max, std::string help) {
  Var& v = Add(std::move(name), std::move(help));
  if (def) v.default_text = absl::StrCat(*def);
  v.value = int64_t{0};
  Var* vp = &v;
  v.parse = [vp, min, max](const std::string& text) {
    int64_t n;
    if (!absl::SimpleAtoi(text, &n) || n < min || n > max) {
      return absl::StrCat("an integer in [", min, ", ", max, "]");
    }
    vp->value = n;
    return std::string();
  };
  return &std::get<int64_t>(v.value);
}

const double* EnvConfig::Double(std::string name, std::optional<double> def, double min, double max,
                                std::string help) {
  Var& v = Add(std::move(name), std::move(help));
  if (def) v.default_text = absl::StrCat(*def);
  v.value = 0.0;
  Var* vp = &v;
  v.parse = [vp, min, max](const std::string& text) {
    double d;
    if (!absl::SimpleAtod(text, &d) || !std::isfinite(d) || d < min || d > max) {
      return absl::StrCat("a number in [", min, ", ", max, "]");
    }
    vp->value = d;
    return std::string();
  };
  return &std::get<double>(v.value);
}

const bool* EnvConfig::Bool(std::string name, bool def, std::string help) {
  Var& v = Add(std::move(name), std::move(help));
  v.default_text = def ? "true" : "false";
  v.value = false;
  Var* vp = &v;
  v.parse = [vp](const std::string& text) {
    const std::string t = absl::AsciiStrToLower(text);
    if (t == "true" || t == "1" || t == "yes" || t == "on") {
      vp->value = true;
    } else if (t == "false" || t == "0" || t == "no" || t == "off") {
      vp->value = false;
    } else {
      return std::string("true or false");
    }
    return std::string();
  };
  return &std::get<bool>(v.value);
}

const absl::Duration* EnvConfig::Duration(std::string name, std::optional<absl::Duration> def,
                                          absl::Duration min, absl::Duration max,
                                          std::string help) {
  Var& v = Add(std::move(name), std::move(help));
  if (def) v.default_text = absl::FormatDuration(*def);
  v.value = absl::ZeroDuration();
  Var* vp = &v;
  v.parse = [vp, min, max](const std::string& text) {
    auto d = ParseDuration(text);
    if (!d.ok() || *d < min || *d > max) {
      return absl::StrCat("a duration like 250ms, 5s, 15m or 1h30m in [", absl::FormatDuration(min),
                          ", ", absl::FormatDuration(max), "]");
    }
    vp->value = *d;
    return std::string();
  };
  return &std::get<absl::Duration>(v.value);
}

const std::string* EnvConfig::Address(std::string name, std::optional<std::string> def,
                                      std::string help) {
  Var& v = Add(std::move(name), std::move(help));
  v.default_text = def;
  v.value = std::string();
  Var* vp = &v;
  v.parse = [vp](const std::string& text) {
    const absl::StatusOr<net::HostPort> parsed = net::ParseHostPort(text);
    if (!parsed.ok()) return std::string(absl::StripPrefix(parsed.status().message(), "expected "));
    vp->value = text;
    return std::string();
  };
  return &std::get<std::string>(v.value);
}

void EnvConfig::Bind(std::string* out, std::string name, std::string help, bool secret) {
  const std::string* v = String(std::move(name), *out, std::move(help), secret);
  binds_.push_back([out, v] { *out = *v; });
}

void EnvConfig::BindRequired(std::string* out, std::string name, std::string help, bool secret) {
  const std::string* v = String(std::move(name), std::nullopt, std::move(help), secret);
  binds_.push_back([out, v] { *out = *v; });
}

void EnvConfig::BindEnum(std::string* out, std::string name, std::vector<std::string> choices,
                         std::string help) {
  const std::string* v = Enum(std::move(name), *out, std::move(choices), std::move(help));
  binds_.push_back([out, v] { *out = *v; });
}

void EnvConfig::BindAddress(std::string* out, std::string name, std::string help) {
  const std::string* v = Address(std::move(name), *out, std::move(help));
  binds_.push_back([out, v] { *out = *v; });
}

void EnvConfig::BindAddress(net::HostPort* out, std::string name, std::string help) {
  const std::string* v = Address(std::move(name), out->ToString(), std::move(help));
  binds_.push_back([out, v] { *out = *net::ParseHostPort(*v); });  // Address() validated it
}

void EnvConfig::BindList(std::vector<std::string>* out, std::string name, std::string help) {
  const std::string* v = String(std::move(name), absl::StrJoin(*out, ","), std::move(help));
  binds_.push_back([out, v] {
    *out = absl::StrSplit(*v, ',', absl::SkipWhitespace());
    for (std::string& item : *out) item = std::string(absl::StripAsciiWhitespace(item));
  });
}

void EnvConfig::Bind(bool* out, std::string name, std::string help) {
  const bool* v = Bool(std::move(name), *out, std::move(help));
  binds_.push_back([out, v] { *out = *v; });
}

void EnvConfig::Bind(double* out, std::string name, double min, double max, std::string help) {
  const double* v = Double(std::move(name), *out, min, max, std::move(help));
  binds_.push_back([out, v] { *out = *v; });
}

void EnvConfig::Bind(absl::Duration* out, std::string name, absl::Duration min, absl::Duration max,
                     std::string help) {
  const absl::Duration* v = Duration(std::move(name), *out, min, max, std::move(help));
  binds_.push_back([out, v] { *out = *v; });
}

absl::Status EnvConfig::Load(const EnvLookup& env) {
  std::vector<std::string> errors;
  for (auto& v : vars_) {
    std::optional<std::string> text = env(v->name);
    if (!text.has_value()) {
      if (!v->default_text.has_value()) {
        errors.push_back(absl::StrCat(v->name, " is required: ", v->help));
        continue;
      }
      text = v->default_text;
    }
    if (std::string expected = v->parse(*text); !expected.empty()) {
      const std::string shown = v->secret ? "<secret>" : absl::StrCat("\"", *text, "\"");
      errors.push_back(absl::StrCat(v->name, "=", shown, ": expected ", expected));
      continue;
    }
    v->raw = *text;
  }
  if (errors.empty()) {
    for (const auto& bind : binds_) bind();
    for (const auto& check : checks_) {
      if (std::string error = check(); !error.empty()) errors.push_back(std::move(error));
    }
    if (errors.empty()) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("invalid configuration for ", service_, ":\n  ", absl::StrJoin(errors, "\n  ")));
}

std::string EnvConfig::HelpText() const {
  std::string out =
      absl::StrCat("iss-", service_, ": configured only through environment variables.\n\n");
  size_t width = 8;
  for (const auto& v : vars_) width = std::max(width, v->name.size());
  for (const auto& v : vars_) {
    const std::string def = !v->default_text ? "(required)"
                            : v->secret      ? "(secret)"
                                             : absl::StrCat("default \"", *v->default_text, "\"");
    absl::StrAppendFormat(&out, "  %-*s  %s; %s\n", static_cast<int>(width), v->name, v->help, def);
  }
  return out;
}

bool EnvConfig::HandleArgs(int argc, char** argv) const {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << HelpText();
      return true;
    }
    std::cerr << argv[0] << ": unknown argument \"" << arg
              << "\" (configuration comes from environment variables; see --help)\n";
    std::exit(2);
  }
  return false;
}

void EnvConfig::LoadOrExit(int argc, char** argv) {
  if (HandleArgs(argc, argv)) std::exit(0);
  if (absl::Status s = Load(); !s.ok()) {
    std::cerr << s.message() << "\n(run with --help for the list of variables)\n";
    std::exit(2);
  }
}

std::vector<std::pair<std::string, std::string>> EnvConfig::Effective() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& v : vars_) {
    out.emplace_back(v->name, v->secret ? (v->raw.empty() ? "" : "<set>") : v->raw);
  }
  return out;
}

absl::StatusOr<absl::Duration> ParseDuration(std::string_view text) {
  absl::Duration d;
  if (text == "0") return absl::ZeroDuration();
  if (text.empty() || !absl::ParseDuration(AsAbsl(text), &d) || d < absl::ZeroDuration() ||
      d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("not a duration: \"", AsAbsl(text), "\""));
  }
  return d;
}

}  // namespace iss
