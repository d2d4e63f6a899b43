#include "clients/issctl/command_line.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace iss::issctl {

CommandLine::CommandLine() {
  root_.allow_extras();
  root_.require_subcommand(0, 1);
  // TakeAll: a flag given twice is reported by ParseArgs, not CLI11.
  root_.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  root_.set_help_flag();  // re-added after the common flags, to be listed last
  AddCommonFlags(&root_);
  root_.set_help_flag("-h,--help", "this command's help");

  constexpr char kFrom[] = "window start: RFC 3339, \"now\" or \"-1h\" (default -1h)";
  Cmd(&root_, "query", Command::kQuery, Service::kStorage, "",
      "events of items inside a time window [from, to), oldest first")
      .Opt("items", "ID,ID", "item ids (required, 1..100)")
      .Window(absl::Hours(1), kFrom, "window end (default now)")
      .Pages(10000, "events per page, 1..10000 (server default 1000)",
             "follow next-page tokens until the window is exhausted")
      .Flag("desc", "newest first")
      .Opt("min", "X", "keep numeric values >= X")
      .Opt("max", "X", "keep numeric values <= X");
  Cmd(&root_, "latest", Command::kLatest, Service::kStorage, "[ITEM...]",
      "latest stored value of items (every item seen when none given)")
      .Opt("items", "ID,ID", "item ids (in addition to positional ones)");
  Cmd(&root_, "tail", Command::kTail, Service::kStorage, "[ITEM...]",
      "live events as the storage sink commits them, until Ctrl-C")
      .Opt("items", "ID,ID", "item ids (default: every item)")
      .Opt("count", "N", "stop after N events")
      .Opt("duration", "DURATION", "stop after this long (--timeout does not bound the stream)")
      .Flag("progress", "status line on stderr even when it is not a terminal")
      .Flag("no-progress", "no status line on stderr");
  Cmd(&root_, "series", Command::kSeries, Service::kStorage, "ITEM",
      "downsampled series of one item: min/max/avg/last/count per bucket")
      .Window(absl::Hours(1), "window start (default -1h)", "window end (default now)")
      .Opt("bucket", "DURATION", "bucket width, at least 1s (default 1m)");
  Cmd(&root_, "items", Command::kItems, Service::kStorage, "",
      "the item catalog with last value and update rate")
      .Opt("search", "TEXT", "substring of id, name, ops name or description")
      .Opt("discipline", "NAME", "exact discipline, e.g. ETHOS")
      .Pages(1000, "items per page, 1..1000 (server default 500)");
  Cmd(&root_, "item", Command::kItem, Service::kStorage, "ITEM", "one catalog item");
  Cmd(&root_, "export", Command::kExport, Service::kStorage, "[ITEM...]",
      "stored history as replay lines: ISS_INGEST_SOURCE=replay plays them again")
      .Opt("items", "ID,ID", "item ids (default: every item)")
      .Window(absl::Hours(1), kFrom, "window end (default now)")
      .Opt("out", "FILE",
           "write the lines here (default \"-\": stdout); a name ending .gz is gzipped")
      .Flag("progress", "progress bar on stderr even when it is not a terminal")
      .Flag("no-progress", "no progress bar (a summary line only)");

  CLI::App* storage = Group(&root_, "storage");
  Cmd(storage, "status", Command::kStorageStatus, Service::kStorage, "",
      "sink progress: rows written, committed offsets and lag per partition");

  CLI::App* peebot = Group(&root_, "peebot");
  Cmd(peebot, "status", Command::kPeebotStatus, Service::kPeebot, "",
      "Pee-Bot mode, last level, last detection, cooldown, posts today");
  Cmd(peebot, "detections", Command::kPeebotDetections, Service::kPeebot, "",
      "detections, newest first (optionally inside [from, to))")
      .Window(absl::InfiniteDuration(), "detections starting at or after this time",
              "detections starting before this time")
      .Pages(500, "detections per page, 1..500 (server default 50)");
  Cmd(peebot, "pause", Command::kPeebotPause, Service::kPeebot, "",
      "stop posting (detections are still recorded) [admin]")
      .Opt("reason", "TEXT", "kept in Pee-Bot's log");
  Cmd(peebot, "resume", Command::kPeebotResume, Service::kPeebot, "", "resume posting [admin]");
  CLI::App* cooldown = Cmd(peebot, "cooldown", Command::kPeebotCooldown, Service::kPeebot, "",
                           "show the cooldown setting and the time left")
                           .app;
  Cmd(cooldown, "set", Command::kPeebotCooldownSet, Service::kPeebot, "DURATION",
      "set the minimum time between posts, 0..24h, e.g. 15m [admin]");
  Cmd(cooldown, "clear", Command::kPeebotCooldownClear, Service::kPeebot, "",
      "set the cooldown to 0 (no minimum time between posts) [admin]");
  Cmd(peebot, "destinations", Command::kPeebotDestinations, Service::kPeebot, "",
      "each destination (x, bluesky, mastodon, webhook): health, posts today, pause, last error");
  CLI::App* destination = Group(peebot, "destination");
  Cmd(destination, "pause", Command::kPeebotDestinationPause, Service::kPeebot, "NAME",
      "stop posting to one destination; the others go on [admin]")
      .Opt("reason", "TEXT", "kept in Pee-Bot's log and status");
  Cmd(destination, "resume", Command::kPeebotDestinationResume, Service::kPeebot, "NAME",
      "resume posting to one destination [admin]");
  Cmd(peebot, "test-post", Command::kPeebotTestPost, Service::kPeebot, "",
      "a test post to one destination: dry-run unless --force [admin]")
      .Opt("destination", "NAME", "x (default), bluesky, mastodon or webhook")
      .Opt("text", "TEXT", "the text (default: a generated one)")
      .Flag("force", "really send it (when the destination has credentials)");

  CLI::App* ingest = Group(&root_, "ingest");
  Cmd(ingest, "status", Command::kIngestStatus, Service::kIngest, "[ITEM...]",
      "feed connection, signal, queue depth, counters (and items' last update)")
      .Opt("items", "ID,ID", "items whose last update to show; \"*\" = all subscribed");
  Cmd(ingest, "send", Command::kIngestSend, Service::kIngest, "",
      "send one test event through the test-ingest RPC [admin]")
      .Opt("item", "ID", "item id (required)")
      .Opt("value", "TEXT", "value (required)")
      .Opt("source-ts", "TIME", "when it was sampled (default now)")
      .Opt("status-class", "TEXT", "Status.Class, e.g. 24")
      .Opt("status-indicator", "TEXT", "Status.Indicator")
      .Opt("status-color", "TEXT", "Status.Color")
      .Opt("calibrated", "TEXT", "CalibratedData");
}

const CommandInfo* CommandLine::Info(const CLI::App* app) const {
  const auto it = commands_.find(app);
  return it == commands_.end() ? nullptr : &it->second;
}

CLI::App* CommandLine::Selected() {
  CLI::App* app = &root_;
  while (!app->get_subcommands().empty()) app = app->get_subcommands().front();
  return app;
}

bool CommandLine::TakesNextArg(const std::string& arg, CLI::App* app) {
  if (app == nullptr) app = &root_;
  if (const CLI::Option* o = app->get_option_no_throw(arg);
      o != nullptr && o->get_items_expected_max() != 0) {
    return true;
  }
  for (CLI::App* sub : app->get_subcommands({})) {
    if (TakesNextArg(arg, sub)) return true;
  }
  return false;
}

std::vector<const CLI::App*> CommandLine::CommandsUnder(CLI::App* app) {
  std::vector<const CLI::App*> out;
  if (Info(app) != nullptr) out.push_back(app);
  for (CLI::App* sub : app->get_subcommands({})) {
    for (const CLI::App* c : CommandsUnder(sub)) out.push_back(c);
  }
  return out;
}

void CommandLine::AddCommonFlags(CLI::App* app) {
  app->add_option("--addr", CLI::callback_t{},
                  "server address (default: $ISSCTL_<SERVICE>_ADDR, else 127.0.0.1:5005x)")
      ->type_name("HOST:PORT");
  app->add_option("--timeout", CLI::callback_t{},
                  "deadline of each call (each page), e.g. 500ms (default 10s)")
      ->type_name("DURATION");
  const std::string json = "proto3 JSON output (one object per line for streams and pages)";
  app->add_flag("--json", json)->disable_flag_override();
}

CLI::App* CommandLine::Group(CLI::App* parent, const std::string& name) {
  CLI::App* app = parent->add_subcommand(name);
  // At most one subcommand: a stray word after a command is an error of
  // that command, not a second command.
  app->require_subcommand(0, 1);
  return app;
}

CommandLine::Decl CommandLine::Cmd(CLI::App* parent, const std::string& name, Command command,
                                   Service service, const std::string& positional,
                                   const std::string& summary) {
  CLI::App* app = Group(parent, name);
  app->description(summary);
  CommandInfo& info = commands_[app];
  info = {command, service, positional};
  if (!positional.empty()) {
    const bool many = absl::EndsWith(positional, "...]");
    info.min_positional = positional[0] == '[' ? 0 : 1;
    info.max_positional = many ? -1 : 1;
    info.args = app->add_option("args", CLI::callback_t{})->type_name(positional);
    if (many) info.args->expected(0, CLI::detail::expected_max_vector_size)->allow_extra_args();
  }
  AddCommonFlags(app);
  return Decl{app, &info};
}

std::string PathOf(const CLI::App* app) {
  std::vector<std::string> words;
  for (; app != nullptr && app->get_parent() != nullptr; app = app->get_parent()) {
    words.insert(words.begin(), app->get_name());
  }
  return absl::StrJoin(words, " ");
}

bool IsFlag(const CLI::Option* o) { return o->get_items_expected_max() == 0; }

namespace {

// `app`'s flags as help lines; with `skip`'s flags (the common ones) left out.
std::string FlagLines(const CLI::App* app, const CLI::App* skip = nullptr) {
  std::string out;
  for (const CLI::Option* o : app->get_options()) {
    const std::string name = o->get_name();
    if (o->get_positional() || (skip != nullptr && skip->get_option_no_throw(name) != nullptr)) {
      continue;
    }
    std::string left =
        absl::StrCat("  ", name, IsFlag(o) ? "" : " ", IsFlag(o) ? "" : o->get_type_name());
    if (left.size() < 30) left.resize(30, ' ');
    absl::StrAppend(&out, left, " ", o->get_description(), "\n");
  }
  return out;
}

std::string UsageLine(CommandLine& cl, const CLI::App* app) {
  std::string s = absl::StrCat("issctl ", PathOf(app));
  if (!FlagLines(app, &cl.root()).empty()) absl::StrAppend(&s, " [flags]");
  if (const auto& pos = cl.Info(app)->positional; !pos.empty()) absl::StrAppend(&s, " ", pos);
  return s;
}

constexpr char kHelpFooter[] = "\n(issctl --help lists environment variables and exit codes)\n";

std::string CommandHelp(CommandLine& cl, const CLI::App* app) {
  std::string s = absl::StrCat("usage: ", UsageLine(cl, app), "\n\n", app->get_description(), "\n");
  if (std::string own = FlagLines(app, &cl.root()); !own.empty()) {
    absl::StrAppend(&s, "\nflags:\n", own);
  }
  absl::StrAppend(&s, "\ncommon flags:\n", FlagLines(&cl.root()), kHelpFooter);
  return s;
}

// `issctl help <group>` / `issctl <group> --help`: every command under a
// command group ("peebot", "storage", "ingest") with its flags.
std::string GroupHelp(CommandLine& cl, CLI::App* group) {
  std::string s =
      absl::StrCat("usage: issctl ", PathOf(group), " <subcommand> [flags]\n\nsubcommands:\n");
  for (const CLI::App* c : cl.CommandsUnder(group)) {
    absl::StrAppend(&s, "\n", UsageLine(cl, c), "\n  ", c->get_description(), "\n",
                    FlagLines(c, &cl.root()));
  }
  absl::StrAppend(&s, "\ncommon flags:\n", FlagLines(&cl.root()), kHelpFooter);
  return s;
}

std::string GeneralHelp(CommandLine& cl) {
  std::string s =
      "issctl: admin CLI of the ISS telemetry platform (over its gRPC APIs).\n\n"
      "usage: issctl <command> [flags]\n\ncommands:\n";
  for (const CLI::App* c : cl.CommandsUnder(&cl.root())) {
    const std::string& pos = cl.Info(c)->positional;
    std::string left = absl::StrCat("  ", PathOf(c), pos.empty() ? "" : " ", pos);
    if (left.size() < 30) left.resize(30, ' ');
    absl::StrAppend(&s, left, " ", c->get_description(), "\n");
  }
  absl::StrAppend(&s, "\ncommon flags (every command):\n", FlagLines(&cl.root()));
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

}  // namespace

std::string HelpFor(CommandLine& cl, CLI::App* app) {
  if (app == &cl.root()) return GeneralHelp(cl);
  if (cl.Info(app) != nullptr) return CommandHelp(cl, app);
  return GroupHelp(cl, app);
}

std::string GeneralHelp() {
  CommandLine cl;
  return GeneralHelp(cl);
}

}  // namespace iss::issctl
