#include "clients/issctl/args.h"

#include <algorithm>
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
#include "common/net.h"

namespace iss::issctl {
namespace {

struct FlagSpec {
  std::string name;  // without the leading "--"
  std::string arg;   // "" = a switch; otherwise the value's placeholder
  std::string help;
};

struct CommandSpec {
  Command command;
  Service service;
  std::vector<std::string> path;  // {"peebot", "cooldown", "set"}
  std::string positional;         // placeholder for positionals, "" = none allowed
  int min_positional = 0;
  int max_positional = 0;  // -1 = any number
  std::string summary;
  std::vector<FlagSpec> flags;
};

const std::vector<FlagSpec>& CommonFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"addr", "HOST:PORT",
       "server address (default: $ISSCTL_<SERVICE>_ADDR, else 127.0.0.1:5005x)"},
      {"timeout", "DURATION", "deadline of each call (each page), e.g. 500ms (default 10s)"},
      {"json", "", "proto3 JSON output (one object per line for streams and pages)"},
      {"help", "", "this command's help"},
  };
  return *flags;
}

const std::vector<CommandSpec>& Commands() {
  static const auto* specs = new std::vector<CommandSpec>{
      {Command::kQuery,
       Service::kStorage,
       {"query"},
       "",
       0,
       0,
       "events of items inside a time window [from, to), oldest first",
       {{"items", "ID,ID", "item ids (required, 1..100)"},
        {"from", "TIME", "window start: RFC 3339, \"now\" or \"-1h\" (default -1h)"},
        {"to", "TIME", "window end (default now)"},
        {"page-size", "N", "events per page, 1..10000 (server default 1000)"},
        {"page-token", "TOKEN", "continue from a previous page"},
        {"all", "", "follow next-page tokens until the window is exhausted"},
        {"desc", "", "newest first"},
        {"min", "X", "keep numeric values >= X"},
        {"max", "X", "keep numeric values <= X"}}},
      {Command::kLatest,
       Service::kStorage,
       {"latest"},
       "[ITEM...]",
       0,
       -1,
       "latest stored value of items (every item seen when none given)",
       {{"items", "ID,ID", "item ids (in addition to positional ones)"}}},
      {Command::kTail,
       Service::kStorage,
       {"tail"},
       "[ITEM...]",
       0,
       -1,
       "live events as the storage sink commits them, until Ctrl-C",
       {{"items", "ID,ID", "item ids (default: every item)"},
        {"count", "N", "stop after N events"},
        {"duration", "DURATION", "stop after this long (--timeout does not bound the stream)"},
        {"progress", "", "status line on stderr even when it is not a terminal"},
        {"no-progress", "", "no status line on stderr"}}},
      {Command::kSeries,
       Service::kStorage,
       {"series"},
       "ITEM",
       1,
       1,
       "downsampled series of one item: min/max/avg/last/count per bucket",
       {{"from", "TIME", "window start (default -1h)"},
        {"to", "TIME", "window end (default now)"},
        {"bucket", "DURATION", "bucket width, at least 1s (default 1m)"}}},
      {Command::kItems,
       Service::kStorage,
       {"items"},
       "",
       0,
       0,
       "the item catalog with last value and update rate",
       {{"search", "TEXT", "substring of id, name, ops name or description"},
        {"discipline", "NAME", "exact discipline, e.g. ETHOS"},
        {"page-size", "N", "items per page, 1..1000 (server default 500)"},
        {"page-token", "TOKEN", "continue from a previous page"},
        {"all", "", "follow next-page tokens"}}},
      {Command::kItem, Service::kStorage, {"item"}, "ITEM", 1, 1, "one catalog item", {}},
      {Command::kExport,
       Service::kStorage,
       {"export"},
       "[ITEM...]",
       0,
       -1,
       "stored history as replay lines: ISS_INGEST_SOURCE=replay plays them again",
       {{"items", "ID,ID", "item ids (default: every item)"},
        {"from", "TIME", "window start: RFC 3339, \"now\" or \"-1h\" (default -1h)"},
        {"to", "TIME", "window end (default now)"},
        {"out", "FILE",
         "write the lines here (default \"-\": stdout); a name ending .gz is gzipped"},
        {"progress", "", "progress bar on stderr even when it is not a terminal"},
        {"no-progress", "", "no progress bar (a summary line only)"}}},
      {Command::kStorageStatus,
       Service::kStorage,
       {"storage", "status"},
       "",
       0,
       0,
       "sink progress: rows written, committed offsets and lag per partition",
       {}},
      {Command::kPeebotStatus,
       Service::kPeebot,
       {"peebot", "status"},
       "",
       0,
       0,
       "Pee-Bot mode, last level, last detection, cooldown, posts today",
       {}},
      {Command::kPeebotDetections,
       Service::kPeebot,
       {"peebot", "detections"},
       "",
       0,
       0,
       "detections, newest first (optionally inside [from, to))",
       {{"from", "TIME", "detections starting at or after this time"},
        {"to", "TIME", "detections starting before this time"},
        {"page-size", "N", "detections per page, 1..500 (server default 50)"},
        {"page-token", "TOKEN", "continue from a previous page"},
        {"all", "", "follow next-page tokens"}}},
      {Command::kPeebotPause,
       Service::kPeebot,
       {"peebot", "pause"},
       "",
       0,
       0,
       "stop posting (detections are still recorded) [admin]",
       {{"reason", "TEXT", "kept in Pee-Bot's log"}}},
      {Command::kPeebotResume,
       Service::kPeebot,
       {"peebot", "resume"},
       "",
       0,
       0,
       "resume posting [admin]",
       {}},
      {Command::kPeebotCooldown,
       Service::kPeebot,
       {"peebot", "cooldown"},
       "",
       0,
       0,
       "show the cooldown setting and the time left",
       {}},
      {Command::kPeebotCooldownSet,
       Service::kPeebot,
       {"peebot", "cooldown", "set"},
       "DURATION",
       1,
       1,
       "set the minimum time between posts, 0..24h, e.g. 15m [admin]",
       {}},
      {Command::kPeebotCooldownClear,
       Service::kPeebot,
       {"peebot", "cooldown", "clear"},
       "",
       0,
       0,
       "set the cooldown to 0 (no minimum time between posts) [admin]",
       {}},
      {Command::kPeebotDestinations,
       Service::kPeebot,
       {"peebot", "destinations"},
       "",
       0,
       0,
       "each destination (x, bluesky, mastodon, webhook): health, posts today, pause, last error",
       {}},
      {Command::kPeebotDestinationPause,
       Service::kPeebot,
       {"peebot", "destination", "pause"},
       "NAME",
       1,
       1,
       "stop posting to one destination; the others go on [admin]",
       {{"reason", "TEXT", "kept in Pee-Bot's log and status"}}},
      {Command::kPeebotDestinationResume,
       Service::kPeebot,
       {"peebot", "destination", "resume"},
       "NAME",
       1,
       1,
       "resume posting to one destination [admin]",
       {}},
      {Command::kPeebotTestPost,
       Service::kPeebot,
       {"peebot", "test-post"},
       "",
       0,
       0,
       "a test post to one destination: dry-run unless --force [admin]",
       {{"destination", "NAME", "x (default), bluesky, mastodon or webhook"},
        {"text", "TEXT", "the text (default: a generated one)"},
        {"force", "", "really send it (when the destination has credentials)"}}},
      {Command::kIngestStatus,
       Service::kIngest,
       {"ingest", "status"},
       "[ITEM...]",
       0,
       -1,
       "feed connection, signal, queue depth, counters (and items' last update)",
       {{"items", "ID,ID", "items whose last update to show; \"*\" = all subscribed"}}},
      {Command::kIngestSend,
       Service::kIngest,
       {"ingest", "send"},
       "",
       0,
       0,
       "send one test event through the test-ingest RPC [admin]",
       {{"item", "ID", "item id (required)"},
        {"value", "TEXT", "value (required)"},
        {"source-ts", "TIME", "when it was sampled (default now)"},
        {"status-class", "TEXT", "Status.Class, e.g. 24"},
        {"status-indicator", "TEXT", "Status.Indicator"},
        {"status-color", "TEXT", "Status.Color"},
        {"calibrated", "TEXT", "CalibratedData"}}},
  };
  return *specs;
}

std::string UsageLine(const CommandSpec& c) {
  std::string s = absl::StrCat("issctl ", absl::StrJoin(c.path, " "));
  if (!c.flags.empty()) absl::StrAppend(&s, " [flags]");
  if (!c.positional.empty()) absl::StrAppend(&s, " ", c.positional);
  return s;
}

std::string FlagLines(const std::vector<FlagSpec>& flags) {
  std::string out;
  for (const auto& f : flags) {
    std::string left = absl::StrCat("  --", f.name, f.arg.empty() ? "" : " ", f.arg);
    if (left.size() < 30) left.resize(30, ' ');
    absl::StrAppend(&out, left, " ", f.help, "\n");
  }
  return out;
}

std::string CommandHelp(const CommandSpec& c) {
  std::string s = absl::StrCat("usage: ", UsageLine(c), "\n\n", c.summary, "\n");
  if (!c.flags.empty()) absl::StrAppend(&s, "\nflags:\n", FlagLines(c.flags));
  absl::StrAppend(&s, "\ncommon flags:\n", FlagLines(CommonFlags()));
  absl::StrAppend(&s, "\n(issctl --help lists environment variables and exit codes)\n");
  return s;
}

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

// Finds the longest command path matching the leading words of `args`.
const CommandSpec* Match(const std::vector<std::string>& args, size_t* consumed) {
  const CommandSpec* best = nullptr;
  for (const auto& c : Commands()) {
    if (c.path.size() > args.size()) continue;
    bool ok = true;
    for (size_t i = 0; i < c.path.size() && ok; ++i) ok = args[i] == c.path[i];
    if (ok && (best == nullptr || c.path.size() > best->path.size())) best = &c;
  }
  if (best != nullptr) *consumed = best->path.size();
  return best;
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

// `issctl help <group>` / `issctl <group> --help`: every subcommand of a
// command group ("peebot", "storage", "ingest") with its flags.
std::string GroupHelp(const std::string& group) {
  std::string s = absl::StrCat("usage: issctl ", group, " <subcommand> [flags]\n\nsubcommands:\n");
  for (const auto& c : Commands()) {
    if (c.path.size() < 2 || c.path[0] != group) continue;
    absl::StrAppend(&s, "\n", UsageLine(c), "\n  ", c.summary, "\n", FlagLines(c.flags));
  }
  absl::StrAppend(&s, "\ncommon flags:\n", FlagLines(CommonFlags()));
  absl::StrAppend(&s, "\n(issctl --help lists environment variables and exit codes)\n");
  return s;
}

// The subcommand words under `group`; empty when it is not a command group.
std::set<std::string> Subcommands(const std::string& group) {
  std::set<std::string> subs;
  for (const auto& c : Commands()) {
    if (c.path.size() > 1 && c.path[0] == group) subs.insert(c.path[1]);
  }
  return subs;
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

std::string GeneralHelp() {
  std::string s =
      "issctl: admin CLI of the ISS telemetry platform (over its gRPC APIs).\n\n"
      "usage: issctl <command> [flags]\n\ncommands:\n";
  for (const auto& c : Commands()) {
    std::string left = absl::StrCat("  ", absl::StrJoin(c.path, " "),
                                    c.positional.empty() ? "" : " ", c.positional);
    if (left.size() < 30) left.resize(30, ' ');
    absl::StrAppend(&s, left, " ", c.summary, "\n");
  }
  absl::StrAppend(&s, "\ncommon flags (every command):\n", FlagLines(CommonFlags()));
  absl::StrAppend(
      &s,
      "\nenvironment:\n"
      "  ISSCTL_INGEST_ADDR          ingestion gRPC address (default 127.0.0.1:50051)\n"
      "  ISSCTL_STORAGE_ADDR         storage gRPC address (default 127.0.0.1:50052)\n"
      "  ISSCTL_PEEBOT_ADDR          Pee-Bot gRPC address (default 127.0.0.1:50053)\n"
      "  ISS_ADMIN_TOKEN             admin token, sent as 'authorization: Bearer <token>'\n"
      "                              on admin calls (never accepted as a flag)\n"
      "\nexit codes:\n"
      "  0  ok\n"
      "  1  other error (internal, resource exhausted, unknown, ...)\n"
      "  2  usage error (bad flag or argument)\n"
      "  3  UNAUTHENTICATED or PERMISSION_DENIED (check ISS_ADMIN_TOKEN)\n"
      "  4  INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE, FAILED_PRECONDITION, ALREADY_EXISTS\n"
      "  5  UNAVAILABLE or DEADLINE_EXCEEDED (server unreachable or too slow)\n"
      "\n`issctl <command> --help` shows a command's flags.\n");
  return s;
}

absl::StatusOr<Invocation> ParseArgs(const std::vector<std::string>& args, const EnvLookup& env,
                                     absl::Time now) {
  Invocation inv;
  if (args.empty()) return Usage("missing command");
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    inv.command = Command::kHelp;
    inv.help_text = GeneralHelp();
    if (args[0] == "help" && args.size() > 1) {
      size_t consumed = 0;
      std::vector<std::string> rest(args.begin() + 1, args.end());
      const CommandSpec* c = Match(rest, &consumed);
      if (c == nullptr && !Subcommands(rest[0]).empty()) {
        inv.help_text = GroupHelp(rest[0]);
      } else if (c == nullptr) {
        return Usage(absl::StrCat("unknown command \"", rest[0], "\""));
      } else {
        inv.help_text = CommandHelp(*c);
      }
    }
    return inv;
  }
  // Common flags may also come before the command: move them after its words.
  std::vector<std::string> leading;
  size_t first = 0;
  while (first < args.size() && absl::StartsWith(args[first], "--") && args[first] != "--") {
    const std::string& a = args[first];
    const std::string name =
        a.substr(2, a.find('=') == std::string::npos ? std::string::npos : a.find('=') - 2);
    const FlagSpec* f = nullptr;
    for (const auto& c : CommonFlags()) {
      if (c.name == name) f = &c;
    }
    if (f == nullptr) {
      return Usage(absl::StrCat("unknown flag --", name, " before the command"));
    }
    leading.push_back(a);
    if (!f->arg.empty() && a.find('=') == std::string::npos && first + 1 < args.size()) {
      leading.push_back(args[++first]);
    }
    ++first;
  }
  if (!leading.empty()) {
    if (first >= args.size()) {
      if (std::find(leading.begin(), leading.end(), "--help") != leading.end()) {
        inv.help_text = GeneralHelp();
        return inv;
      }
      return Usage("missing command");
    }
    // rest[0] is now a word (or "--"), so the recursion does not come back here.
    std::vector<std::string> rest(args.begin() + first, args.end());
    size_t words = 1;
    Match(rest, &words);
    rest.insert(rest.begin() + words, leading.begin(), leading.end());
    return ParseArgs(rest, env, now);
  }
  size_t consumed = 0;
  const CommandSpec* spec = Match(args, &consumed);
  if (spec == nullptr) {
    // Name the group's subcommands when the first word is a known group.
    const std::set<std::string> subs = Subcommands(args[0]);
    if (!subs.empty() && args.size() > 1 && (args[1] == "--help" || args[1] == "-h")) {
      inv.help_text = GroupHelp(args[0]);
      return inv;
    }
    if (!subs.empty()) {
      const std::string got = args.size() > 1 ? absl::StrCat("\"", args[1], "\"") : "nothing";
      return Usage(absl::StrCat("\"", args[0], "\" needs a subcommand (", absl::StrJoin(subs, ", "),
                                "), got ", got));
    }
    return Usage(absl::StrCat("unknown command \"", args[0], "\""));
  }
  inv.command = spec->command;
  inv.service = spec->service;

  // Split flags from positionals, checking each flag against the spec.
  FlagMap flags;
  std::vector<std::string> positional;
  bool flags_done = false;
  for (size_t i = consumed; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (flags_done || a.size() < 2 || a[0] != '-' ||
        (a[1] != '-' && a != "-h")) {  // "-5" style values are positionals
      positional.push_back(a);
      continue;
    }
    if (a == "--") {
      flags_done = true;
      continue;
    }
    if (a == "-h" || a == "--help") {
      inv.command = Command::kHelp;
      inv.help_text = CommandHelp(*spec);
      return inv;
    }
    std::string name = a.substr(2);
    std::optional<std::string> value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const FlagSpec* f = nullptr;
    for (const auto* list : {&spec->flags, &CommonFlags()}) {
      for (const auto& candidate : *list) {
        if (candidate.name == name) f = &candidate;
      }
    }
    if (f == nullptr) {
      if (name == "token" || name == "admin-token") {
        return Usage(absl::StrCat("--", name,
                                  ": the admin token is read from ISS_ADMIN_TOKEN only "
                                  "(never from a flag)"));
      }
      return Usage(
          absl::StrCat("unknown flag --", name, " for \"", absl::StrJoin(spec->path, " "), "\""));
    }
    if (f->arg.empty()) {
      if (value.has_value()) return Usage(absl::StrCat("--", name, " takes no value"));
      value = "";
    } else if (!value.has_value()) {
      if (i + 1 >= args.size())
        return Usage(absl::StrCat("--", name, " needs a value (", f->arg, ")"));
      value = args[++i];
    }
    if (flags.contains(name)) return Usage(absl::StrCat("--", name, " given twice"));
    flags[name] = *value;
  }

  if (static_cast<int>(positional.size()) < spec->min_positional ||
      (spec->max_positional >= 0 && static_cast<int>(positional.size()) > spec->max_positional)) {
    if (positional.size() > static_cast<size_t>(spec->max_positional) &&
        spec->max_positional >= 0) {
      return Usage(absl::StrCat("unexpected argument \"", positional[spec->max_positional],
                                "\" for \"", absl::StrJoin(spec->path, " "), "\""));
    }
    return Usage(absl::StrCat("\"", absl::StrJoin(spec->path, " "), "\" needs ", spec->positional));
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
  if (spec->max_positional < 0) {
    for (const auto& p : positional) inv.items.push_back(p);
  }

  switch (inv.command) {
    case Command::kQuery: {
      if (inv.items.empty()) return Usage("--items is required (e.g. --items NODE3000005)");
      auto window = ParseWindow(flags, now, {now - absl::Hours(1), now, 10000});
      if (!window.ok()) return window.status();
      inv.window = *std::move(window);
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
      if (has("progress") && has("no-progress")) {
        return Usage("--progress and --no-progress exclude each other");
      }
      if (has("progress")) inv.progress = true;
      if (has("no-progress")) inv.progress = false;
      break;
    }
    case Command::kSeries: {
      inv.items = {positional[0]};
      // No paging flags in its spec: the page-size limit is never applied.
      auto window = ParseWindow(flags, now, {now - absl::Hours(1), now, 0});
      if (!window.ok()) return window.status();
      inv.window = *std::move(window);
      inv.bucket = absl::Minutes(1);
      if (absl::Status s = DurationFlag(flags, "bucket", absl::Seconds(1), &inv.bucket); !s.ok()) {
        return s;
      }
      break;
    }
    case Command::kItems: {
      if (has("search")) inv.search = flags["search"];
      if (has("discipline")) inv.discipline = flags["discipline"];
      auto window = ParseWindow(flags, now, {absl::InfinitePast(), absl::InfiniteFuture(), 1000});
      if (!window.ok()) return window.status();
      inv.window = *std::move(window);
      break;
    }
    case Command::kItem:
      inv.items = {positional[0]};
      break;
    case Command::kExport: {
      auto window = ParseWindow(flags, now, {now - absl::Hours(1), now, 0});
      if (!window.ok()) return window.status();
      inv.window = *std::move(window);
      if (has("out")) {
        inv.out_path = flags["out"];
        if (inv.out_path.empty()) return Usage("--out: empty (use \"-\" for stdout)");
      }
      if (has("progress") && has("no-progress")) {
        return Usage("--progress and --no-progress exclude each other");
      }
      if (has("progress")) inv.progress = true;
      if (has("no-progress")) inv.progress = false;
      break;
    }
    case Command::kPeebotDetections: {
      auto window = ParseWindow(flags, now, {absl::InfinitePast(), absl::InfiniteFuture(), 500});
      if (!window.ok()) return window.status();
      inv.window = *std::move(window);
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
      if (has("status-class")) inv.status_class = flags["status-class"];
      if (has("status-indicator")) inv.status_indicator = flags["status-indicator"];
      if (has("status-color")) inv.status_color = flags["status-color"];
      if (has("calibrated")) inv.calibrated_data = flags["calibrated"];
      break;
    }
    default:
      break;
  }
  return inv;
}

}  // namespace iss::issctl
