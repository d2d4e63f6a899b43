// Owns: turning issctl's command line (and the few environment variables it
// reads) into an Invocation, without touching the network, and the --help
// texts. Every usage error is an InvalidArgument status whose message names
// the bad flag or argument; main maps it to exit code 2.
//
// Grammar: issctl <command> [<subcommand>] [flags] [positional...]
//   flags: --name value | --name=value | --switch ; "--" ends the flags.
//   The command words and flags are declared as a CLI11 app tree
//   (command_line.h, which also makes the --help texts);
//   the values are checked here, so each error names its flag our way.
// Secrets never come from flags: the admin token is read from ISS_ADMIN_TOKEN.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/config.h"

namespace iss::issctl {

enum class Command {
  kHelp,                 // --help / help [command]
  kQuery,                // StorageService.QueryWindow
  kLatest,               // StorageService.GetLatest
  kTail,                 // StorageService.Tail (server stream)
  kSeries,               // StorageService.GetSeries
  kItems,                // StorageService.ListItems
  kItem,                 // StorageService.GetItem
  kStorageStatus,        // StorageService.GetSinkStatus
  kPeebotStatus,         // PeeBotService.GetStatus
  kPeebotDetections,     // PeeBotService.ListDetections
  kPeebotPause,          // PeeBotService.PausePosting (admin)
  kPeebotResume,         // PeeBotService.ResumePosting (admin)
  kPeebotCooldown,       // PeeBotService.GetSettings + GetStatus
  kPeebotCooldownSet,    // PeeBotService.UpdateSettings(cooldown) (admin)
  kPeebotCooldownClear,  // same with cooldown 0 (admin)

  // Pee-Bot's destinations.
  kPeebotDestinations,       // PeeBotService.ListDestinations
  kPeebotDestinationPause,   // PeeBotService.PauseDestination (admin)
  kPeebotDestinationResume,  // PeeBotService.ResumeDestination (admin)
  kPeebotTestPost,           // PeeBotService.PostTestMessage (admin)

  kIngestStatus,  // IngestService.GetIngestStatus
  kIngestSend,    // IngestService.IngestTestEvent (admin)
  kExport,        // StorageService.Replay (server stream) -> replay lines
};

// Which service a command talks to (picks the default address and env var).
enum class Service { kNone, kIngest, kStorage, kPeebot };

// Environment variables issctl reads.
inline constexpr char kEnvIngestAddr[] = "ISSCTL_INGEST_ADDR";
inline constexpr char kEnvStorageAddr[] = "ISSCTL_STORAGE_ADDR";
inline constexpr char kEnvPeebotAddr[] = "ISSCTL_PEEBOT_ADDR";
inline constexpr char kEnvAdminToken[] = "ISS_ADMIN_TOKEN";

inline constexpr char kDefaultIngestAddr[] = "127.0.0.1:50051";
inline constexpr char kDefaultStorageAddr[] = "127.0.0.1:50052";
inline constexpr char kDefaultPeebotAddr[] = "127.0.0.1:50053";

// What issctl knows of each service: its name in messages, the environment
// variable naming its address, and the default address.
struct ServiceInfo {
  const char* name;
  const char* addr_env;
  const char* default_addr;
};
inline ServiceInfo Info(Service s) {
  switch (s) {
    case Service::kIngest:
      return {"ingestion", kEnvIngestAddr, kDefaultIngestAddr};
    case Service::kStorage:
      return {"storage", kEnvStorageAddr, kDefaultStorageAddr};
    case Service::kPeebot:
      return {"Pee-Bot", kEnvPeebotAddr, kDefaultPeebotAddr};
    case Service::kNone:
      break;
  }
  return {"?", "", ""};
}

// The time-window and paging flags (--from, --to, --page-size, --page-token,
// --all) of query, series, items and peebot detections, parsed by one function
// so every command applies them the same way. Commands without a flag keep its
// default here.
struct WindowFlags {
  absl::Time from = absl::InfinitePast();
  absl::Time to = absl::InfiniteFuture();
  int page_size = 0;  // 0 = the server's default
  std::string page_token;
  bool all_pages = false;  // keep fetching next pages
};

struct Invocation {
  Command command = Command::kHelp;
  Service service = Service::kNone;
  std::string help_text;  // kHelp: what to print

  // Common to every command.
  bool json = false;
  std::string addr;                            // resolved: flag > env > default
  absl::Duration timeout = absl::Seconds(10);  // per RPC (per page); not tail's stream
  std::string admin_token;                     // from ISS_ADMIN_TOKEN only; may be empty

  // query, latest, tail, series, ingest status.
  std::vector<std::string> items;
  WindowFlags window;  // query, series, items, peebot detections
  bool descending = false;
  std::optional<double> min_value;
  std::optional<double> max_value;
  absl::Duration bucket = absl::ZeroDuration();
  std::string search;
  std::string discipline;

  // tail: stop after this many events (0 = never) or after this long.
  int64_t max_events = 0;
  absl::Duration duration = absl::InfiniteDuration();
  // tail, export: force the stderr status line / progress bar off/on
  // (default: only on a TTY).
  std::optional<bool> progress;

  // export: where the replay lines go ("-" = stdout); gzip when it ends .gz.
  std::string out_path = "-";

  // peebot pause / cooldown set / destination pause|resume / test-post.
  std::string reason;
  std::string destination;  // empty = X (test-post)
  std::string text;         // test-post: empty = a generated text
  bool force = false;       // test-post: really send
  absl::Duration cooldown = absl::ZeroDuration();

  // ingest send.
  std::string value;                            // --value is required, so always sent
  absl::Time source_ts = absl::InfinitePast();  // InfinitePast = now at send time
  std::optional<std::string> status_class;
  std::optional<std::string> status_indicator;
  std::optional<std::string> status_color;
  std::optional<std::string> calibrated_data;
};

// Parses `args` (argv without the program name). `env` supplies the address
// and token variables; `now` anchors relative times ("now", "-15m").
absl::StatusOr<Invocation> ParseArgs(const std::vector<std::string>& args, const EnvLookup& env,
                                     absl::Time now);

// Time arguments: RFC 3339 ("2026-11-30T12:00:00Z", fractions and offsets
// allowed), "now", or "-<duration>" meaning that long before `now` ("-15m").
absl::StatusOr<absl::Time> ParseTimeArg(const std::string& text, absl::Time now);

// The top-level --help text (commands, common flags, env vars, exit codes).
std::string GeneralHelp();

}  // namespace iss::issctl
