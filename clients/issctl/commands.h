// Owns: running one parsed issctl invocation against the platform's gRPC
// services: builds the request, makes the call(s) (following pages, reading
// the tail stream, writing `export`'s replay lines), hands responses to
// format.h, and maps the outcome onto an
// exit code (exit_codes.h). Errors go to `err` as
//   issctl: <GRPC_CODE>: <message> (<service> at <addr>)
// The admin token (from ISS_ADMIN_TOKEN) is attached only to admin RPCs.
#pragma once

#include <ostream>

#include "clients/issctl/args.h"

namespace iss::issctl {

struct Io {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  // Whether stderr is a terminal: the tail status line and the export
  // progress bar are drawn only then (unless --progress / --no-progress say
  // otherwise).
  bool err_is_tty = false;
};

// Runs `inv` and returns the process exit code.
int Run(const Invocation& inv, const Io& io);

}  // namespace iss::issctl
