// issctl: the platform's admin CLI. Parse (args.h), run (commands.h), exit
// with the code documented in exit_codes.h. `issctl --help` lists everything.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "clients/issctl/args.h"
#include "clients/issctl/commands.h"
#include "clients/issctl/exit_codes.h"

int main(int argc, char** argv) {
  using namespace iss::issctl;
  const std::vector<std::string> args(argv + 1, argv + argc);
  auto inv = ParseArgs(args, iss::ProcessEnv(), absl::Now());
  if (!inv.ok()) {
    std::cerr << "issctl: usage: " << inv.status().message() << "\n";
    return kExitUsage;
  }
  return Run(*inv, Io{&std::cout, &std::cerr, isatty(STDERR_FILENO) == 1});
}
