#include "clients/issctl/args.h"

#include <CLI/CLI.hpp>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "clients/issctl/command_line.h"
#include "common/net.h"

namespace iss::issctl {
namespace {

absl::Status Usage(absl::string_view msg) {
  return absl::InvalidArgumentError(absl::StrCat(msg, " (see issctl --help)"));
}

// host:port with a port a server can listen on (not 0).
bool ValidAddress(const std::string& text) {
  const absl::StatusOr<net::HostPort> hp = net::ParseHostPort(text);
  return hp.ok() && hp->port != 0;
}

std::vector<std::string> SplitIds(const std::string& text) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(part));
  }
  return out;
}

// A command's flags: name -> value ("" for switches), already checked
// against its spec.
using FlagMap = std::map<std::string, std::string>;

absl::StatusOr<absl::Time> TimeFlag(const FlagMap& flags, const std::string& n, absl::Time def,
                                    absl::Time now) {
  const auto it = flags.find(n);
  if (it == flags.end()) return def;
  auto t = ParseTimeArg(it->second, now);
  if (!t.ok()) return Usage(absl::StrCat("--", n, ": ", t.status().message()));
  return *t;
}

absl::Status IntFlag(const FlagMap& flags, const std::string& n, int64_t min, int64_t max,
                     int64_t* out) {
  const auto it = flags.find(n);
  if (it == flags.end()) return absl::OkStatus();
  if (!absl::SimpleAtoi(it->second, out) || *out < min || *out > max) {
    return Usage(absl::StrCat("--", n, ": \"", it->second, "\" is not an integer in [", min, ", ",
                              max, "]"));
  }
  return absl::OkStatus();
}

absl::Status DurationFlag(const FlagMap& flags, const std::string& n, absl::Duration min,
                          absl::Duration* out) {
  const auto it = flags.find(n);
  if (it == flags.end()) return absl::OkStatus();
  auto d = iss::ParseDuration(it->second);
  if (!d.ok() || *d < min) {
    return Usage(absl::StrCat(
        "--", n, ": \"", it->second, "\" is not a duration like 500ms, 10s, 15m or 1h30m",
        min > absl::ZeroDuration() ? absl::StrCat(" (at least ", absl::FormatDuration(min), ")")
                                   : ""));
  }
  *out = *d;
  return absl::OkStatus();
}

absl::Status DoubleFlag(const FlagMap& flags, const std::string& n, std::optional<double>* out) {
  const auto it = flags.find(n);
  if (it == flags.end()) return absl::OkStatus();
  double v;
  if (!absl::SimpleAtod(it->second, &v) || !std::isfinite(v)) {
    return Usage(absl::StrCat("--", n, ": \"", it->second, "\" is not a number"));
  }
  *out = v;
  return absl::OkStatus();
}

// --progress / --no-progress (tail, export): unset when neither is given.
absl::Status ProgressFlags(const FlagMap& flags, std::optional<bool>* out) {
  const bool on = flags.contains("progress");
  const bool off = flags.contains("no-progress");
  if (on && off) return Usage("--progress and --no-progress exclude each other");
  if (on) *out = true;
  if (off) *out = false;
  return absl::OkStatus();
}

// Per-command defaults and limits of the window/paging flags.
struct WindowRules {
  absl::Time default_from;
  absl::Time default_to;
  int64_t max_page_size;
};

// The one parser of --from/--to/--page-size/--page-token/--all. A command's
// spec decides which of them it accepts; absent ones keep `rules`' defaults.
absl::StatusOr<WindowFlags> ParseWindow(const FlagMap& flags, absl::Time now,
                                        const WindowRules& rules) {
  WindowFlags w;
  auto from = TimeFlag(flags, "from", rules.default_from, now);
  if (!from.ok()) return from.status();
  auto to = TimeFlag(flags, "to", rules.default_to, now);
  if (!to.ok()) return to.status();
  w.from = *from;
  w.to = *to;
  if (w.to <= w.from) return Usage("--to: must be after --from");
  int64_t n = 0;
  if (absl::Status s = IntFlag(flags, "page-size", 1, rules.max_page_size, &n); !s.ok()) return s;
  w.page_size = static_cast<int>(n);
  if (const auto it = flags.find("page-token"); it != flags.end()) w.page_token = it->second;
  w.all_pages = flags.contains("all");
  return w;
}

// A CLI11 parse error in our words: the flag it is about comes first in its
// message ("--from: 1 required TIME missing", "--all was given a disallowed
// flag override").
std::string FromCli11(const CLI::ParseError& e, CommandLine& cl) {
  const std::string what = e.what();
  std::string name = what.substr(0, what.find_first_of(": "));
  if (!absl::StartsWith(name, "-")) name = "--" + name;  // flag overrides name it bare
  if (absl::StrContains(what, "disallowed flag override")) {
    return absl::StrCat(name, " takes no value");
  }
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr &&
      absl::StrContains(what, "missing")) {
    const CLI::Option* o = cl.Selected()->get_option_no_throw(name);
    if (o == nullptr) o = cl.root().get_option_no_throw(name);
    return absl::StrCat(name, " needs a value",
                        o == nullptr ? "" : absl::StrCat(" (", o->get_type_name(), ")"));
  }
  return what;
}

bool LooksLikeFlag(const std::string& arg) {
  double unused;
  return arg.size() > 1 && arg != "--" && arg[0] == '-' && !absl::SimpleAtod(arg, &unused);
}

// What CLI11 left over (unknown flags, stray words) as the error naming the
// first of them; OK when nothing was left over.
absl::Status Leftovers(CommandLine& cl, CLI::App* selected) {
  const std::vector<std::string> before = cl.root().remaining();
  if (selected == &cl.root()) {
    if (before.empty()) return Usage("missing command");
    if (LooksLikeFlag(before[0])) {
      return Usage(absl::StrCat("unknown flag ", before[0].substr(0, before[0].find('=')),
                                " before the command"));
    }
    return Usage(absl::StrCat("unknown command \"", before[0], "\""));
  }
  for (const std::string& arg : before) {
    if (LooksLikeFlag(arg)) {
      return Usage(
          absl::StrCat("unknown flag ", arg.substr(0, arg.find('=')), " before the command"));
    }
  }
  const std::string path = PathOf(selected);
  if (cl.Info(selected) == nullptr) {  // a group without its subcommand
    std::set<std::string> subs;
    for (const CLI::App* sub : selected->get_subcommands({})) subs.insert(sub->get_name());
    const std::vector<std::string> rest = selected->remaining();
    const std::string got = rest.empty() ? "nothing" : absl::StrCat("\"", rest[0], "\"");
    return Usage(absl::StrCat("\"", path, "\" needs a subcommand (", absl::StrJoin(subs, ", "),
                              "), got ", got));
  }
  std::vector<std::string> rest = before;
  for (const CLI::App* app = selected; app != &cl.root(); app = app->get_parent()) {
    const std::vector<std::string> own = app->remaining();
    rest.insert(rest.end(), own.begin(), own.end());
  }
  if (rest.empty()) return absl::OkStatus();
  const std::string& arg = rest.front();
  if (!LooksLikeFlag(arg)) {
    return Usage(absl::StrCat("unexpected argument \"", arg, "\" for \"", path, "\""));
  }
  const std::string name = arg.substr(0, arg.find('='));
  if (name == "--token" || name == "--admin-token") {
    return Usage(absl::StrCat(
        name, ": the admin token is read from ISS_ADMIN_TOKEN only (never from a flag)"));
  }
  return Usage(absl::StrCat("unknown flag ", name, " for \"", path, "\""));
}

}  // namespace

absl::StatusOr<absl::Time> ParseTimeArg(const std::string& text, absl::Time now) {
  if (text == "now") return now;
  if (text.size() > 1 && text[0] == '-') {
    // Go-style durations, plus a leading whole number of days: "-7d", "-1d12h".
    std::string rest = text.substr(1);
    absl::Duration ago = absl::ZeroDuration();
    if (const size_t d = rest.find('d'); d != std::string::npos) {
      int days = 0;
      if (absl::SimpleAtoi(rest.substr(0, d), &days) && days >= 0 && days <= 36500) {
        ago = absl::Hours(24) * days;
        rest = rest.substr(d + 1);
      }
    }
    if (rest.empty() && ago > absl::ZeroDuration()) return now - ago;
    auto parsed = iss::ParseDuration(rest);
    if (parsed.ok()) return now - ago - *parsed;
  }
  absl::Time t;
  std::string err;
  // absl also parses "infinite-future": only what a protobuf Timestamp holds.
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &err) &&
      t >= absl::FromCivil(absl::CivilSecond(1, 1, 1), absl::UTCTimeZone()) &&
      t < absl::FromCivil(absl::CivilSecond(10000, 1, 1), absl::UTCTimeZone())) {
    return t;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("\"", text, "\" is not a time: use RFC 3339 (2026-11-30T12:00:00Z), ",
                   "\"now\" or a duration ago like \"-15m\" or \"-7d\""));
}

absl::StatusOr<Invocation> ParseArgs(const std::vector<std::string>& args, const EnvLookup& env,
                                     absl::Time now) {
  Invocation inv;  // command kHelp until a command is found
  if (args.empty()) return Usage("missing command");
  CommandLine cl;
  if (args[0] == "help") {  // help [command words...]
    CLI::App* app = &cl.root();
    for (size_t i = 1; i < args.size(); ++i) {
      const std::vector<CLI::App*> subs =
          app->get_subcommands([&](CLI::App* a) { return a->get_name() == args[i]; });
      CLI::App* sub = subs.empty() ? nullptr : subs.front();
      if (sub == nullptr && app == &cl.root()) {
        return Usage(absl::StrCat("unknown command \"", args[i], "\""));
      }
      if (sub == nullptr) break;
      app = sub;
    }
    inv.help_text = HelpFor(cl, app);
    return inv;
  }
  // "--" ends the flags. Split here rather than by CLI11, which hands the words
  // after it to the parent app once a command's optional ITEM... is satisfied.
  size_t marker = 0;
  while (marker < args.size() &&
         (args[marker] != "--" || (marker > 0 && cl.TakesNextArg(args[marker - 1])))) {
    ++marker;
  }
  const std::vector<std::string> after_marker(args.begin() + std::min(marker + 1, args.size()),
                                              args.end());
  // CLI11 takes the arguments last first.
  std::vector<std::string> reversed(args.rend() - marker, args.rend());
  try {
    cl.root().parse(reversed);
  } catch (const CLI::CallForHelp&) {
    inv.help_text = HelpFor(cl, cl.Selected());
    return inv;
  } catch (const CLI::ParseError& e) {
    return Usage(FromCli11(e, cl));  // CLI11's exceptions end here
  }
  CLI::App* const selected = cl.Selected();
  if (selected == &cl.root() && marker < args.size()) return Usage("unknown command \"--\"");
  if (absl::Status s = Leftovers(cl, selected); !s.ok()) return s;
  const CommandInfo& spec = *cl.Info(selected);
  inv.command = spec.command;
  inv.service = spec.service;

  // The flags given (root's: common flags before the command), by name.
  FlagMap flags;
  for (const CLI::App* app : {&cl.root(), selected}) {
    for (const CLI::Option* o : app->get_options()) {
      if (o->count() == 0 || o->get_positional()) continue;
      const std::string name = o->get_name().substr(2);
      if (o->count() > 1 || flags.contains(name)) {
        return Usage(absl::StrCat("--", name, " given twice"));
      }
      flags[name] = IsFlag(o) ? "" : o->results().front();
    }
  }
  std::vector<std::string> positional =
      spec.args == nullptr ? std::vector<std::string>{} : spec.args->results();
  positional.insert(positional.end(), after_marker.begin(), after_marker.end());
  if (static_cast<int>(positional.size()) < spec.min_positional) {
    return Usage(absl::StrCat("\"", PathOf(selected), "\" needs ", spec.positional));
  }
  if (spec.max_positional >= 0 && static_cast<int>(positional.size()) > spec.max_positional) {
    return Usage(absl::StrCat("unexpected argument \"", positional[spec.max_positional],
                              "\" for \"", PathOf(selected), "\""));
  }

  auto has = [&](const std::string& n) { return flags.contains(n); };

  // Common flags.
  inv.json = has("json");
  if (absl::Status s = DurationFlag(flags, "timeout", absl::Milliseconds(1), &inv.timeout);
      !s.ok()) {
    return s;
  }
  const char* env_name = Info(inv.service).addr_env;
  const char* def_addr = Info(inv.service).default_addr;
  if (has("addr")) {
    inv.addr = flags["addr"];
    if (!ValidAddress(inv.addr)) {
      return Usage(absl::StrCat("--addr: \"", inv.addr, "\" is not host:port"));
    }
  } else if (auto e = env(env_name); e.has_value() && !e->empty()) {
    inv.addr = *e;
    if (!ValidAddress(inv.addr)) {
      return Usage(absl::StrCat(env_name, ": \"", inv.addr, "\" is not host:port"));
    }
  } else {
    inv.addr = def_addr;
  }
  if (auto t = env(kEnvAdminToken); t.has_value()) inv.admin_token = *t;

  // Items: --items plus positionals where the command takes ITEM...
  if (has("items")) {
    inv.items = SplitIds(flags["items"]);
    if (inv.items.empty()) return Usage("--items: no item id given");
  }
  if (spec.max_positional < 0) {
    for (const auto& p : positional) inv.items.push_back(p);
  }
  if (inv.command == Command::kQuery && inv.items.empty()) {
    return Usage("--items is required (e.g. --items NODE3000005)");
  }
  if (spec.window) {
    const bool bounded = spec.window_span != absl::InfiniteDuration();
    auto window = ParseWindow(flags, now,
                              {bounded ? now - spec.window_span : absl::InfinitePast(),
                               bounded ? now : absl::InfiniteFuture(), spec.max_page_size});
    if (!window.ok()) return window.status();
    inv.window = *std::move(window);
  }

  switch (inv.command) {
    case Command::kQuery: {
      inv.descending = has("desc");
      if (absl::Status s = DoubleFlag(flags, "min", &inv.min_value); !s.ok()) return s;
      if (absl::Status s = DoubleFlag(flags, "max", &inv.max_value); !s.ok()) return s;
      if (inv.min_value && inv.max_value && *inv.min_value > *inv.max_value) {
        return Usage("--max: must not be below --min");
      }
      break;
    }
    case Command::kTail: {
      if (absl::Status s = IntFlag(flags, "count", 1, INT64_MAX, &inv.max_events); !s.ok()) {
        return s;
      }
      if (absl::Status s = DurationFlag(flags, "duration", absl::Milliseconds(1), &inv.duration);
          !s.ok()) {
        return s;
      }
      if (absl::Status s = ProgressFlags(flags, &inv.progress); !s.ok()) return s;
      break;
    }
    case Command::kSeries: {
      inv.items = {positional[0]};
      inv.bucket = absl::Minutes(1);
      if (absl::Status s = DurationFlag(flags, "bucket", absl::Seconds(1), &inv.bucket); !s.ok()) {
        return s;
      }
      break;
    }
    case Command::kItems: {
      if (has("search")) inv.search = flags["search"];
      if (has("discipline")) inv.discipline = flags["discipline"];
      break;
    }
    case Command::kItem:
      inv.items = {positional[0]};
      break;
    case Command::kExport: {
      if (has("out")) {
        inv.out_path = flags["out"];
        if (inv.out_path.empty()) return Usage("--out: empty (use \"-\" for stdout)");
      }
      if (absl::Status s = ProgressFlags(flags, &inv.progress); !s.ok()) return s;
      break;
    }
    case Command::kPeebotPause:
      if (has("reason")) inv.reason = flags["reason"];
      break;
    case Command::kPeebotDestinationPause:
      if (has("reason")) inv.reason = flags["reason"];
      [[fallthrough]];
    case Command::kPeebotDestinationResume:
      inv.destination = positional[0];
      break;
    case Command::kPeebotTestPost:
      if (has("destination")) {
        inv.destination = flags["destination"];
        if (inv.destination.empty()) return Usage("--destination: empty");
      }
      if (has("text")) inv.text = flags["text"];
      inv.force = has("force");
      break;
    case Command::kPeebotCooldownSet: {
      auto d = iss::ParseDuration(positional[0]);
      if (!d.ok() || *d > absl::Hours(24)) {
        return Usage(absl::StrCat("cooldown: \"", positional[0],
                                  "\" is not a duration in [0, 24h] like 15m or 1h30m"));
      }
      inv.cooldown = *d;
      break;
    }
    case Command::kIngestSend: {
      if (!has("item") || flags["item"].empty()) return Usage("--item is required");
      inv.items = {flags["item"]};
      if (!has("value")) return Usage("--value is required");
      inv.value = flags["value"];
      auto ts = TimeFlag(flags, "source-ts", absl::InfinitePast(), now);
      if (!ts.ok()) return ts.status();
      inv.source_ts = *ts;
      for (const auto& [name, field] :
           {std::pair{"status-class", &Invocation::status_class},
            std::pair{"status-indicator", &Invocation::status_indicator},
            std::pair{"status-color", &Invocation::status_color},
            std::pair{"calibrated", &Invocation::calibrated_data}}) {
        if (has(name)) inv.*field = flags[name];
      }
      break;
    }
    default:
      break;
  }
  return inv;
}

}  // namespace iss::issctl
