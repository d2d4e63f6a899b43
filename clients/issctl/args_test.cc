// issctl's argument parsing, without a network: every command's flags, the
// address/token environment, and each kind of bad input naming the culprit.
#include "clients/issctl/args.h"

#include <gtest/gtest.h>

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "clients/issctl/exit_codes.h"

namespace iss::issctl {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1795000000);

absl::StatusOr<Invocation> Parse(std::vector<std::string> args,
                                 std::map<std::string, std::string> env = {}) {
  return ParseArgs(args, iss::MapEnv(std::move(env)), kNow);
}

// A usage error whose message contains `needle`.
void ExpectUsage(std::vector<std::string> args, const std::string& needle,
                 std::map<std::string, std::string> env = {}) {
  auto r = Parse(args, std::move(env));
  ASSERT_FALSE(r.ok()) << "accepted: " << absl::StrJoin(args, " ");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(r.status().message(), needle))
      << "message: " << r.status().message() << " / wanted: " << needle;
}

TEST(ParseArgs, QueryWithEveryFlag) {
  auto r = Parse({"query", "--items", "NODE3000005, S0000004", "--from", "2026-11-30T10:00:00Z",
                  "--to=2026-11-30T11:00:00.5Z", "--page-size", "50", "--all", "--desc", "--min",
                  "1.5", "--max=9", "--json", "--timeout", "2s", "--addr", "db:1234"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->command, Command::kQuery);
  EXPECT_EQ(r->service, Service::kStorage);
  EXPECT_EQ(r->items, (std::vector<std::string>{"NODE3000005", "S0000004"}));
  absl::Time from;
  std::string err;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, "2026-11-30T10:00:00Z", &from, &err));
  EXPECT_EQ(r->window.from, from);
  EXPECT_EQ(r->window.to, from + absl::Hours(1) + absl::Milliseconds(500));
  EXPECT_EQ(r->window.page_size, 50);
  EXPECT_TRUE(r->window.all_pages);
  EXPECT_TRUE(r->descending);
  EXPECT_EQ(r->min_value, 1.5);
  EXPECT_EQ(r->max_value, 9.0);
  EXPECT_TRUE(r->json);
  EXPECT_EQ(r->timeout, absl::Seconds(2));
  EXPECT_EQ(r->addr, "db:1234");
}

TEST(ParseArgs, QueryDefaultsToTheLastHour) {
  auto r = Parse({"query", "--items", "NODE3000005"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->window.from, kNow - absl::Hours(1));
  EXPECT_EQ(r->window.to, kNow);
  EXPECT_EQ(r->window.page_size, 0);
  EXPECT_FALSE(r->json);
  EXPECT_EQ(r->timeout, absl::Seconds(10));
  EXPECT_EQ(r->addr, kDefaultStorageAddr);
}

TEST(ParseArgs, RelativeTimes) {
  auto r = Parse({"query", "--items", "A", "--from", "-15m", "--to", "now"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->window.from, kNow - absl::Minutes(15));
  EXPECT_EQ(r->window.to, kNow);
  EXPECT_EQ(*ParseTimeArg("-1h30m", kNow), kNow - absl::Minutes(90));
  EXPECT_EQ(*ParseTimeArg("2026-11-30T12:00:00+01:00", kNow),
            *ParseTimeArg("2026-11-30T11:00:00Z", kNow));
  EXPECT_EQ(*ParseTimeArg("-7d", kNow), kNow - absl::Hours(24 * 7));
  EXPECT_EQ(*ParseTimeArg("-1d12h", kNow), kNow - absl::Hours(36));
  EXPECT_FALSE(ParseTimeArg("-d", kNow).ok());
  EXPECT_FALSE(ParseTimeArg("-0d", kNow).ok());
  EXPECT_FALSE(ParseTimeArg("-xd", kNow).ok());
  EXPECT_FALSE(ParseTimeArg("yesterday", kNow).ok());
  EXPECT_FALSE(ParseTimeArg("-", kNow).ok());
  EXPECT_FALSE(ParseTimeArg("2026-11-30", kNow).ok());
}

TEST(ParseArgs, DefaultAddressesPerServiceAndFromTheEnvironment) {
  EXPECT_EQ(Parse({"latest"})->addr, "127.0.0.1:50052");
  EXPECT_EQ(Parse({"peebot", "status"})->addr, "127.0.0.1:50053");
  EXPECT_EQ(Parse({"ingest", "status"})->addr, "127.0.0.1:50051");
  const std::map<std::string, std::string> env = {
      {"ISSCTL_STORAGE_ADDR", "s:1"}, {"ISSCTL_PEEBOT_ADDR", "p:2"}, {"ISSCTL_INGEST_ADDR", "i:3"}};
  EXPECT_EQ(Parse({"items"}, env)->addr, "s:1");
  EXPECT_EQ(Parse({"peebot", "pause"}, env)->addr, "p:2");
  EXPECT_EQ(Parse({"ingest", "status"}, env)->addr, "i:3");
  // The flag wins over the environment.
  EXPECT_EQ(Parse({"items", "--addr", "x:9"}, env)->addr, "x:9");
  ExpectUsage({"items"}, "ISSCTL_STORAGE_ADDR", {{"ISSCTL_STORAGE_ADDR", "nohost"}});
}

TEST(ParseArgs, AdminTokenOnlyFromTheEnvironment) {
  auto r = Parse({"peebot", "pause", "--reason", "eva"}, {{"ISS_ADMIN_TOKEN", "t0k"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->command, Command::kPeebotPause);
  EXPECT_EQ(r->admin_token, "t0k");
  EXPECT_EQ(r->reason, "eva");
  EXPECT_TRUE(Parse({"peebot", "resume"})->admin_token.empty());
  ExpectUsage({"peebot", "pause", "--token", "t0k"}, "ISS_ADMIN_TOKEN");
  ExpectUsage({"peebot", "pause", "--admin-token=t0k"}, "--admin-token");
}

TEST(ParseArgs, LatestAndTailTakeItemsAsArgumentsOrFlag) {
  auto r = Parse({"latest", "A", "B", "--items", "C"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->items, (std::vector<std::string>{"C", "A", "B"}));
  EXPECT_TRUE(Parse({"latest"})->items.empty());
  auto t = Parse({"tail", "NODE3000005", "--count", "3", "--duration", "5s", "--no-progress"});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->command, Command::kTail);
  EXPECT_EQ(t->items, (std::vector<std::string>{"NODE3000005"}));
  EXPECT_EQ(t->max_events, 3);
  EXPECT_EQ(t->duration, absl::Seconds(5));
  EXPECT_EQ(t->progress, false);
  EXPECT_FALSE(Parse({"tail"})->progress.has_value());
  EXPECT_EQ(Parse({"tail"})->duration, absl::InfiniteDuration());
}

TEST(ParseArgs, SeriesItemsAndStatusCommands) {
  auto s = Parse({"series", "NODE3000005", "--bucket", "5m", "--from", "-6h"});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->command, Command::kSeries);
  EXPECT_EQ(s->items, (std::vector<std::string>{"NODE3000005"}));
  EXPECT_EQ(s->bucket, absl::Minutes(5));
  EXPECT_EQ(s->window.from, kNow - absl::Hours(6));
  EXPECT_EQ(Parse({"series", "X"})->bucket, absl::Minutes(1));
  auto i = Parse({"items", "--search", "tank", "--discipline", "ETHOS", "--page-size", "10"});
  ASSERT_TRUE(i.ok()) << i.status();
  EXPECT_EQ(i->search, "tank");
  EXPECT_EQ(i->discipline, "ETHOS");
  EXPECT_EQ(i->window.page_size, 10);
  EXPECT_EQ(Parse({"item", "NODE3000005"})->command, Command::kItem);
  EXPECT_EQ(Parse({"storage", "status"})->command, Command::kStorageStatus);
  EXPECT_EQ(Parse({"peebot", "status"})->command, Command::kPeebotStatus);
  EXPECT_EQ(Parse({"peebot", "resume"})->command, Command::kPeebotResume);
  EXPECT_EQ(Parse({"ingest", "status", "*"})->items, (std::vector<std::string>{"*"}));
}

TEST(ParseArgs, Cooldown) {
  EXPECT_EQ(Parse({"peebot", "cooldown"})->command, Command::kPeebotCooldown);
  auto set = Parse({"peebot", "cooldown", "set", "1h30m"});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->command, Command::kPeebotCooldownSet);
  EXPECT_EQ(set->cooldown, absl::Minutes(90));
  EXPECT_EQ(Parse({"peebot", "cooldown", "set", "0"})->cooldown, absl::ZeroDuration());
  EXPECT_EQ(Parse({"peebot", "cooldown", "clear"})->command, Command::kPeebotCooldownClear);
  ExpectUsage({"peebot", "cooldown", "set"}, "needs DURATION");
  ExpectUsage({"peebot", "cooldown", "set", "25h"}, "\"25h\"");
  ExpectUsage({"peebot", "cooldown", "set", "soon"}, "\"soon\"");
  ExpectUsage({"peebot", "cooldown", "clear", "now"}, "unexpected argument \"now\"");
}

TEST(ParseArgs, PeebotDestinations) {
  EXPECT_EQ(Parse({"peebot", "destinations"})->command, Command::kPeebotDestinations);
  auto pause = Parse({"peebot", "destination", "pause", "bluesky", "--reason", "moving"});
  ASSERT_TRUE(pause.ok()) << pause.status();
  EXPECT_EQ(pause->command, Command::kPeebotDestinationPause);
  EXPECT_EQ(pause->destination, "bluesky");
  EXPECT_EQ(pause->reason, "moving");
  auto resume = Parse({"peebot", "destination", "resume", "webhook"});
  ASSERT_TRUE(resume.ok()) << resume.status();
  EXPECT_EQ(resume->command, Command::kPeebotDestinationResume);
  EXPECT_EQ(resume->destination, "webhook");
  ExpectUsage({"peebot", "destination", "pause"}, "NAME");
  auto test = Parse({"peebot", "test-post", "--destination", "mastodon", "--force"});
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->command, Command::kPeebotTestPost);
  EXPECT_EQ(test->destination, "mastodon");
  EXPECT_TRUE(test->force);
  EXPECT_FALSE(Parse({"peebot", "test-post"})->force);
  ExpectUsage({"peebot", "test-post", "--destination", ""}, "--destination");
}

TEST(ParseArgs, PeebotDetections) {
  auto all = Parse({"peebot", "detections"});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->command, Command::kPeebotDetections);
  EXPECT_EQ(all->window.from, absl::InfinitePast());
  EXPECT_EQ(all->window.to, absl::InfiniteFuture());
  auto r = Parse({"peebot", "detections", "--from", "-24h", "--page-size", "500", "--all"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->window.from, kNow - absl::Hours(24));
  EXPECT_EQ(r->window.to, absl::InfiniteFuture());
  EXPECT_EQ(r->window.page_size, 500);
  EXPECT_TRUE(r->window.all_pages);
  ExpectUsage({"peebot", "detections", "--page-size", "501"}, "--page-size");
  ExpectUsage({"peebot", "detections", "--from", "now", "--to", "-1h"}, "--to: must be after");
}

TEST(ParseArgs, IngestSend) {
  auto r = Parse({"ingest", "send", "--item", "USLAB000061", "--value", "-12.5", "--source-ts",
                  "2025-01-01T12:00:00Z", "--status-class", "24", "--calibrated", "x"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->command, Command::kIngestSend);
  EXPECT_EQ(r->items, (std::vector<std::string>{"USLAB000061"}));
  EXPECT_EQ(r->value, "-12.5");
  EXPECT_EQ(r->source_ts, absl::FromUnixSeconds(1735732800));
  EXPECT_EQ(r->status_class, "24");
  EXPECT_FALSE(r->status_color.has_value());
  EXPECT_EQ(r->calibrated_data, "x");
  EXPECT_EQ(Parse({"ingest", "send", "--item", "A", "--value", "1"})->source_ts,
            absl::InfinitePast());
  ExpectUsage({"ingest", "send", "--value", "1"}, "--item is required");
  ExpectUsage({"ingest", "send", "--item", "A"}, "--value is required");
  ExpectUsage({"ingest", "send", "--item", "A", "--value", "1", "--source-ts", "x"}, "--source-ts");
}

TEST(ParseArgs, Help) {
  auto top = Parse({"--help"});
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top->command, Command::kHelp);
  for (const char* s : {"query", "tail", "peebot cooldown set", "ingest send", "ISS_ADMIN_TOKEN",
                        "ISSCTL_STORAGE_ADDR", "exit codes", "UNAUTHENTICATED"}) {
    EXPECT_TRUE(absl::StrContains(top->help_text, s)) << s;
  }
  auto cmd = Parse({"query", "--items", "bad", "--help"});
  ASSERT_TRUE(cmd.ok());
  EXPECT_EQ(cmd->command, Command::kHelp);
  EXPECT_TRUE(absl::StrContains(cmd->help_text, "--page-size")) << cmd->help_text;
  EXPECT_TRUE(absl::StrContains(Parse({"help", "peebot", "pause"})->help_text, "--reason"));
  EXPECT_TRUE(absl::StrContains(Parse({"tail", "-h"})->help_text, "--count"));
}

// A command group's help lists each subcommand with its own flags.
TEST(ParseArgs, GroupHelpListsSubcommandsAndTheirFlags) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"help", "peebot"}, {"peebot", "--help"}}) {
    auto r = Parse(args);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->command, Command::kHelp);
    const std::string& h = r->help_text;
    EXPECT_TRUE(absl::StartsWith(h, "usage: issctl peebot <subcommand> [flags]")) << h;
    for (const char* s :
         {"issctl peebot status", "issctl peebot detections [flags]", "issctl peebot pause [flags]",
          "issctl peebot resume", "issctl peebot cooldown\n", "issctl peebot cooldown set DURATION",
          "issctl peebot cooldown clear", "--reason TEXT", "--page-size N", "--page-token TOKEN",
          "--from TIME", "--json"}) {
      EXPECT_TRUE(absl::StrContains(h, s)) << s << " missing in:\n" << h;
    }
    // Only this group's subcommands and flags.
    EXPECT_FALSE(absl::StrContains(h, "ingest send")) << h;
    EXPECT_FALSE(absl::StrContains(h, "--bucket")) << h;
  }
  auto storage = Parse({"help", "storage"});
  ASSERT_TRUE(storage.ok()) << storage.status();
  EXPECT_TRUE(absl::StrContains(storage->help_text, "issctl storage status")) << storage->help_text;
}

TEST(ParseArgs, BadInputNamesTheCulprit) {
  ExpectUsage({}, "missing command");
  ExpectUsage({"frobnicate"}, "unknown command \"frobnicate\"");
  ExpectUsage({"help", "frobnicate"}, "unknown command \"frobnicate\"");
  ExpectUsage({"peebot"},
              "needs a subcommand (cooldown, destination, destinations, detections, pause, "
              "resume, status, test-post), got nothing");
  ExpectUsage({"peebot", "explode"}, "got \"explode\"");
  ExpectUsage({"query", "--items", "A", "--colour", "red"}, "unknown flag --colour");
  ExpectUsage({"query"}, "--items is required");
  ExpectUsage({"query", "--items", ","}, "--items");
  ExpectUsage({"query", "--items", "A", "--from"}, "--from needs a value");
  ExpectUsage({"query", "--items", "A", "--from", "tuesday"}, "--from: \"tuesday\" is not a time");
  ExpectUsage({"query", "--items", "A", "--from", "-1h", "--to", "-2h"}, "--to: must be after");
  ExpectUsage({"query", "--items", "A", "--page-size", "0"}, "--page-size: \"0\"");
  ExpectUsage({"query", "--items", "A", "--page-size", "10001"}, "--page-size");
  ExpectUsage({"query", "--items", "A", "--page-size", "ten"}, "--page-size");
  ExpectUsage({"query", "--items", "A", "--min", "x"}, "--min: \"x\" is not a number");
  // Parsable, but not something a request can carry.
  ExpectUsage({"query", "--items", "A", "--min", "nan"}, "--min: \"nan\" is not a number");
  ExpectUsage({"query", "--items", "A", "--max", "inf"}, "--max: \"inf\" is not a number");
  ExpectUsage({"query", "--items", "A", "--to", "infinite-future"},
              "--to: \"infinite-future\" is not a time");
  ExpectUsage({"ingest", "send", "--item", "A", "--value", "1", "--source-ts", "infinite-past"},
              "--source-ts: \"infinite-past\" is not a time");
  ExpectUsage({"query", "--items", "A", "--min", "5", "--max", "1"}, "--max");
  ExpectUsage({"query", "--items", "A", "--all=yes"}, "--all takes no value");
  ExpectUsage({"query", "--items", "A", "--items", "B"}, "--items given twice");
  ExpectUsage({"query", "--items", "A", "extra"}, "unexpected argument \"extra\"");
  ExpectUsage({"latest", "--timeout", "soon"}, "--timeout: \"soon\"");
  ExpectUsage({"latest", "--timeout", "0"}, "--timeout");
  ExpectUsage({"latest", "--addr", "localhost"}, "--addr: \"localhost\" is not host:port");
  ExpectUsage({"latest", "--addr", "h:99999"}, "--addr");
  ExpectUsage({"series"}, "needs ITEM");
  ExpectUsage({"series", "A", "--bucket", "500ms"}, "--bucket");
  ExpectUsage({"item"}, "needs ITEM");
  ExpectUsage({"tail", "--count", "0"}, "--count");
  ExpectUsage({"tail", "--progress", "--no-progress"}, "exclude each other");
  ExpectUsage({"export", "--progress", "--no-progress"}, "exclude each other");
  ExpectUsage({"export", "--out", ""}, "--out: empty");
  ExpectUsage({"export", "--from", "-1h", "--to", "-2h"}, "--to: must be after --from");
  ExpectUsage({"export", "--page-size", "5"}, "unknown flag --page-size");
  ExpectUsage({"items", "--page-size", "1001"}, "--page-size");
  ExpectUsage({"storage", "status", "--items", "A"}, "unknown flag --items");
}

TEST(ParseArgs, CommonFlagsMayComeBeforeTheCommand) {
  auto r = Parse({"--addr", "h:1", "--json", "peebot", "cooldown", "set", "30m", "--timeout=3s"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->command, Command::kPeebotCooldownSet);
  EXPECT_EQ(r->addr, "h:1");
  EXPECT_TRUE(r->json);
  EXPECT_EQ(r->timeout, absl::Seconds(3));
  EXPECT_EQ(r->cooldown, absl::Minutes(30));
  EXPECT_EQ(Parse({"--json", "--help"})->command, Command::kHelp);
  EXPECT_EQ(Parse({"--json", "-h"})->command, Command::kHelp);
  ExpectUsage({"--json"}, "missing command");
  ExpectUsage({"--items", "A", "query"}, "unknown flag --items before the command");
  ExpectUsage({"--json", "frobnicate"}, "unknown command \"frobnicate\"");
  ExpectUsage({"--json", "--", "query"}, "unknown command \"--\"");
}

TEST(ParseArgs, ExportTakesItemsAWindowAndAnOutput) {
  auto r = Parse({"export", "NODE3000005", "--items", "TIME_000001", "--from", "-2h", "--out",
                  "session.jsonl.gz", "--no-progress"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->command, Command::kExport);
  EXPECT_EQ(r->service, Service::kStorage);
  EXPECT_EQ(r->items, (std::vector<std::string>{"TIME_000001", "NODE3000005"}));
  EXPECT_EQ(r->out_path, "session.jsonl.gz");
  EXPECT_EQ(r->progress, std::optional<bool>(false));
  EXPECT_LT(r->window.from, r->window.to);
  auto d = Parse({"export"});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->out_path, "-");
  EXPECT_TRUE(d->items.empty());
  EXPECT_EQ(d->window.to - d->window.from, absl::Hours(1));
}

TEST(ParseArgs, DoubleDashEndsFlags) {
  auto r = Parse({"latest", "--", "--weird"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->items, (std::vector<std::string>{"--weird"}));
}

TEST(ExitCodes, MapGrpcCodes) {
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kOk), 0);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kUnauthenticated), 3);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kPermissionDenied), 3);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kInvalidArgument), 4);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kNotFound), 4);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kFailedPrecondition), 4);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kUnavailable), 5);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kDeadlineExceeded), 5);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kInternal), 1);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kResourceExhausted), 1);
}

}  // namespace
}  // namespace iss::issctl
