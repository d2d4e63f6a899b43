// issctl's command words and flags (args.h) as a CLI11 app tree, and the
// --help texts made from it. Internal to issctl: args.cc parses with it.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "clients/issctl/args.h"

namespace iss::issctl {

// What a runnable command is beyond its CLI11 app (name, summary, flags).
struct CommandInfo {
  Command command;
  Service service;
  std::string positional;       // placeholder: "", "ITEM", "[ITEM...]"
  CLI::Option* args = nullptr;  // the positionals, when it takes any
  int min_positional = 0;
  int max_positional = 0;  // -1 = any number
  // Its window/paging flags (Decl::Window, Decl::Pages), when it takes any: a
  // window of `window_span` up to now by default (InfiniteDuration:
  // unbounded), pages of at most `max_page_size` (0: no paging flags).
  bool window = false;
  absl::Duration window_span = absl::InfiniteDuration();
  int64_t max_page_size = 0;
};

// issctl's command line as a tree of CLI11 apps: one per command word, built
// afresh for each parse. CLI11 splits words, flags and values; the values are
// checked afterwards (ParseArgs) so each error names the flag our way. Unknown
// flags and stray arguments are kept as CLI11 "extras" for the same reason.
class CommandLine {
 public:
  CommandLine();

  CLI::App& root() { return root_; }
  const CommandInfo* Info(const CLI::App* app) const;
  // The deepest command word parsed (the root when there was none).
  CLI::App* Selected();
  // Whether `arg` is a flag (of any command) that takes its value from the
  // next argument.
  bool TakesNextArg(const std::string& arg, CLI::App* app = nullptr);
  // Every command below `app` in declaration order, `app` itself first.
  std::vector<const CLI::App*> CommandsUnder(CLI::App* app);

 private:
  // Chained declarations of one command's own flags.
  struct Decl {
    CLI::App* app;
    CommandInfo* info;
    // --from and --to, defaulting to the last `span` (CommandInfo).
    Decl& Window(absl::Duration span, const std::string& from_help, const std::string& to_help) {
      info->window = true;
      info->window_span = span;
      return Opt("from", "TIME", from_help).Opt("to", "TIME", to_help);
    }
    // --page-size (1..max_page_size), --page-token and --all.
    Decl& Pages(int64_t max_page_size, const std::string& size_help,
                const std::string& all_help = "follow next-page tokens") {
      info->window = true;
      info->max_page_size = max_page_size;
      return Opt("page-size", "N", size_help)
          .Opt("page-token", "TOKEN", "continue from a previous page")
          .Flag("all", all_help);
    }
    Decl& Opt(const std::string& name, const std::string& arg, const std::string& help) {
      app->add_option("--" + name, CLI::callback_t{}, help)->type_name(arg);
      return *this;
    }
    Decl& Flag(const std::string& name, const std::string& help) {
      app->add_flag("--" + name, help)->disable_flag_override();  // "--all=yes" is an error
      return *this;
    }
  };

  static void AddCommonFlags(CLI::App* app);

  // A word that only groups commands ("peebot", "peebot destination").
  static CLI::App* Group(CLI::App* parent, const std::string& name);

  Decl Cmd(CLI::App* parent, const std::string& name, Command command, Service service,
           const std::string& positional, const std::string& summary);

  CLI::App root_{"admin CLI of the ISS telemetry platform", "issctl"};
  std::map<const CLI::App*, CommandInfo> commands_;
};

// "peebot cooldown set" for that app.
std::string PathOf(const CLI::App* app);
// Whether `o` is a switch (takes no value).
bool IsFlag(const CLI::Option* o);
// The help for a word: the command's, the group's, or the general one.
std::string HelpFor(CommandLine& cl, CLI::App* app);

}  // namespace iss::issctl
