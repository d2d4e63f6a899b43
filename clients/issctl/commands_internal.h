// What the parts of issctl's command runner (commands.h) share:
//   commands.cc         Run (dispatch, errors and hints) and the unary and
//                       paged commands
//   commands_stream.cc  the streaming commands: tail and export
// Internal to issctl.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "clients/issctl/commands.h"
#include "grpcpp/grpcpp.h"
#include "iss/storage/v1/storage.grpc.pb.h"

namespace iss::issctl {

namespace sv1 = iss::storage::v1;
using iss::telemetry::v1::TelemetryEvent;

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& addr);
// A context with the invocation's deadline (and the bearer token for admin RPCs).
std::unique_ptr<grpc::ClientContext> Ctx(const Invocation& inv, bool admin = false);
absl::Status Check(const grpc::Status& s);

// StorageService.Tail until Ctrl-C, --count or --duration.
absl::Status RunTail(const Invocation& inv, const Io& io);
// StorageService.Replay over the window, written as replay lines.
absl::Status RunExport(const Invocation& inv, const Io& io);

}  // namespace iss::issctl
