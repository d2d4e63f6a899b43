#include "clients/issctl/commands.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clients/issctl/commands_internal.h"
#include "clients/issctl/exit_codes.h"
#include "clients/issctl/format.h"
#include "common/grpc_server.h"
#include "common/grpc_util.h"
#include "grpcpp/grpcpp.h"
#include "iss/ingest/v1/ingest.grpc.pb.h"
#include "iss/peebot/v1/peebot.grpc.pb.h"
#include "iss/storage/v1/storage.grpc.pb.h"

namespace iss::issctl {

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& addr) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<grpc::ClientContext> Ctx(const Invocation& inv, bool admin) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + inv.timeout));
  if (admin && !inv.admin_token.empty()) iss::AddBearer(ctx.get(), inv.admin_token);
  return ctx;
}

absl::Status Check(const grpc::Status& s) { return iss::FromGrpc(s); }

namespace {

namespace pv1 = iss::peebot::v1;
namespace iv1 = iss::ingest::v1;

// Fetches one page: sends the request with `page_token`, prints or keeps what
// came back, and returns the response's next_page_token ("" on the last page).
using PageFn = std::function<absl::StatusOr<std::string>(const std::string& page_token)>;

// The paging loop of query, items and peebot detections: pages from
// --page-token on, all of them with --all; without it, stops after the first
// and tells stderr how to go on. `rest` names what is left ("items").
absl::Status FollowPages(const Invocation& inv, const Io& io, const PageFn& page,
                         const std::function<std::string()>& rest) {
  std::string token = inv.window.page_token;
  for (;;) {
    absl::StatusOr<std::string> next = page(token);
    if (!next.ok()) return next.status();
    if (next->empty()) return absl::OkStatus();
    if (!inv.window.all_pages) {
      *io.err << "more " << rest() << ": add --all, or continue with --page-token=" << *next
              << "\n";
      return absl::OkStatus();
    }
    token = *std::move(next);
  }
}

// A unary call's answer on stdout: one JSON line, or `text` of it.
template <typename Resp, typename Text>
absl::Status Print(const grpc::Status& call, const Resp& resp, const Invocation& inv, const Io& io,
                   Text text) {
  if (absl::Status s = Check(call); !s.ok()) return s;
  *io.out << (inv.json ? JsonLine(resp) : text(resp));
  return absl::OkStatus();
}

// A page's entries: JSON lines at once, or kept in `table` for one text table
// aligned over every page.
template <typename T>
void PrintOrKeep(const google::protobuf::RepeatedPtrField<T>& page, const Invocation& inv,
                 const Io& io, std::vector<T>* table) {
  for (const T& entry : page) {
    if (inv.json) {
      *io.out << JsonLine(entry);
    } else {
      table->push_back(entry);
    }
  }
}

// ---- storage ----

absl::Status RunQuery(const Invocation& inv, const Io& io) {
  auto stub = sv1::StorageService::NewStub(MakeChannel(inv.addr));
  sv1::QueryWindowRequest req;
  for (const auto& id : inv.items) req.add_item_ids(id);
  iss::ToProto(inv.window.from, req.mutable_start_time());
  iss::ToProto(inv.window.to, req.mutable_end_time());
  req.set_page_size(inv.window.page_size);
  req.set_order(inv.descending ? sv1::ORDER_DESC : sv1::ORDER_ASC);
  if (inv.min_value) req.mutable_value_filter()->set_min(*inv.min_value);
  if (inv.max_value) req.mutable_value_filter()->set_max(*inv.max_value);
  uint64_t total = 0;
  bool first_page = true;
  // Events are printed page by page (not collected): a window can be large.
  auto page = [&](const std::string& token) -> absl::StatusOr<std::string> {
    req.set_page_token(token);
    sv1::QueryWindowResponse resp;
    if (absl::Status s = Check(stub->QueryWindow(Ctx(inv).get(), req, &resp)); !s.ok()) return s;
    if (first_page && !inv.json) *io.out << EventHeader();
    first_page = false;
    for (const auto& e : resp.events()) *io.out << (inv.json ? JsonLine(e) : EventRow(e));
    io.out->flush();
    total += resp.events_size();
    return resp.next_page_token();
  };
  return FollowPages(inv, io, page, [&] { return absl::StrCat("events after these ", total); });
}

absl::Status RunLatest(const Invocation& inv, const Io& io) {
  auto stub = sv1::StorageService::NewStub(MakeChannel(inv.addr));
  sv1::GetLatestRequest req;
  for (const auto& id : inv.items) req.add_item_ids(id);
  sv1::GetLatestResponse resp;
  return Print(stub->GetLatest(Ctx(inv).get(), req, &resp), resp, inv, io, FormatLatest);
}

absl::Status RunSeries(const Invocation& inv, const Io& io) {
  auto stub = sv1::StorageService::NewStub(MakeChannel(inv.addr));
  sv1::GetSeriesRequest req;
  req.set_item_id(inv.items.at(0));
  iss::ToProto(inv.window.from, req.mutable_start_time());
  iss::ToProto(inv.window.to, req.mutable_end_time());
  *req.mutable_bucket() = iss::ToProtoDuration(inv.bucket);
  sv1::GetSeriesResponse resp;
  return Print(stub->GetSeries(Ctx(inv).get(), req, &resp), resp, inv, io, FormatSeries);
}

absl::Status RunItems(const Invocation& inv, const Io& io) {
  auto stub = sv1::StorageService::NewStub(MakeChannel(inv.addr));
  sv1::ListItemsRequest req;
  req.set_search(inv.search);
  req.set_discipline(inv.discipline);
  req.set_page_size(inv.window.page_size);
  std::vector<sv1::Item> items;  // text: one table, aligned over every page
  auto page = [&](const std::string& token) -> absl::StatusOr<std::string> {
    req.set_page_token(token);
    sv1::ListItemsResponse resp;
    if (absl::Status s = Check(stub->ListItems(Ctx(inv).get(), req, &resp)); !s.ok()) return s;
    PrintOrKeep(resp.items(), inv, io, &items);
    return resp.next_page_token();
  };
  if (absl::Status s = FollowPages(inv, io, page, [] { return "items"; }); !s.ok()) return s;
  if (!inv.json) *io.out << FormatItems(items);
  return absl::OkStatus();
}

absl::Status RunItem(const Invocation& inv, const Io& io) {
  auto stub = sv1::StorageService::NewStub(MakeChannel(inv.addr));
  sv1::GetItemRequest req;
  req.set_item_id(inv.items.at(0));
  sv1::Item resp;
  return Print(stub->GetItem(Ctx(inv).get(), req, &resp), resp, inv, io, FormatItem);
}

absl::Status RunStorageStatus(const Invocation& inv, const Io& io) {
  auto stub = sv1::StorageService::NewStub(MakeChannel(inv.addr));
  sv1::SinkStatus resp;
  return Print(stub->GetSinkStatus(Ctx(inv).get(), {}, &resp), resp, inv, io, FormatSinkStatus);
}

// ---- peebot ----

absl::Status RunPeebot(const Invocation& inv, const Io& io) {
  auto stub = pv1::PeeBotService::NewStub(MakeChannel(inv.addr));
  pv1::Status status;
  switch (inv.command) {
    case Command::kPeebotStatus:
      if (absl::Status s = Check(stub->GetStatus(Ctx(inv).get(), {}, &status)); !s.ok()) return s;
      break;
    case Command::kPeebotPause: {
      pv1::PausePostingRequest req;
      req.set_reason(inv.reason);
      if (absl::Status s = Check(stub->PausePosting(Ctx(inv, true).get(), req, &status)); !s.ok()) {
        return s;
      }
      break;
    }
    case Command::kPeebotResume:
      if (absl::Status s = Check(stub->ResumePosting(Ctx(inv, true).get(), {}, &status)); !s.ok()) {
        return s;
      }
      break;
    case Command::kPeebotCooldown: {
      pv1::Settings settings;
      if (absl::Status s = Check(stub->GetSettings(Ctx(inv).get(), {}, &settings)); !s.ok()) {
        return s;
      }
      if (absl::Status s = Check(stub->GetStatus(Ctx(inv).get(), {}, &status)); !s.ok()) return s;
      *io.out << (inv.json ? CooldownJson(settings, status) : FormatCooldown(settings, &status));
      return absl::OkStatus();
    }
    case Command::kPeebotDestinations: {
      pv1::ListDestinationsResponse resp;
      return Print(stub->ListDestinations(Ctx(inv).get(), {}, &resp), resp, inv, io,
                   FormatDestinations);
    }
    case Command::kPeebotDestinationPause:
    case Command::kPeebotDestinationResume: {
      pv1::DestinationStatus st;
      grpc::Status g;
      if (inv.command == Command::kPeebotDestinationPause) {
        pv1::PauseDestinationRequest req;
        req.set_destination(inv.destination);
        req.set_reason(inv.reason);
        g = stub->PauseDestination(Ctx(inv, true).get(), req, &st);
      } else {
        pv1::ResumeDestinationRequest req;
        req.set_destination(inv.destination);
        g = stub->ResumeDestination(Ctx(inv, true).get(), req, &st);
      }
      if (absl::Status s = Check(g); !s.ok()) return s;
      pv1::ListDestinationsResponse one;
      *one.add_destinations() = st;
      *io.out << (inv.json ? JsonLine(st) : FormatDestinations(one));
      return absl::OkStatus();
    }
    case Command::kPeebotTestPost: {
      pv1::PostTestMessageRequest req;
      req.set_destination(inv.destination);
      req.set_text(inv.text);
      req.set_force(inv.force);
      pv1::PostTestMessageResponse resp;
      return Print(stub->PostTestMessage(Ctx(inv, true).get(), req, &resp), resp, inv, io,
                   FormatTestPost);
    }
    case Command::kPeebotCooldownSet:
    case Command::kPeebotCooldownClear: {
      pv1::UpdateSettingsRequest req;
      const absl::Duration d =
          inv.command == Command::kPeebotCooldownSet ? inv.cooldown : absl::ZeroDuration();
      *req.mutable_settings()->mutable_cooldown() = iss::ToProtoDuration(d);
      req.mutable_update_mask()->add_paths("cooldown");
      pv1::Settings settings;
      return Print(stub->UpdateSettings(Ctx(inv, true).get(), req, &settings), settings, inv, io,
                   [](const pv1::Settings& s) { return FormatCooldown(s, nullptr); });
    }
    default:
      return absl::InternalError("not a peebot command");
  }
  *io.out << (inv.json ? JsonLine(status) : FormatPeebotStatus(status));
  return absl::OkStatus();
}

absl::Status RunDetections(const Invocation& inv, const Io& io) {
  auto stub = pv1::PeeBotService::NewStub(MakeChannel(inv.addr));
  pv1::ListDetectionsRequest req;
  if (inv.window.from != absl::InfinitePast()) {
    iss::ToProto(inv.window.from, req.mutable_start_time());
  }
  if (inv.window.to != absl::InfiniteFuture()) iss::ToProto(inv.window.to, req.mutable_end_time());
  req.set_page_size(inv.window.page_size);
  std::vector<pv1::Detection> detections;  // text: one table, aligned over every page
  auto page = [&](const std::string& token) -> absl::StatusOr<std::string> {
    req.set_page_token(token);
    pv1::ListDetectionsResponse resp;
    if (absl::Status s = Check(stub->ListDetections(Ctx(inv).get(), req, &resp)); !s.ok()) {
      return s;
    }
    PrintOrKeep(resp.detections(), inv, io, &detections);
    return resp.next_page_token();
  };
  if (absl::Status s = FollowPages(inv, io, page, [] { return "detections"; }); !s.ok()) return s;
  if (!inv.json) *io.out << FormatDetections(detections);
  return absl::OkStatus();
}

// ---- ingest ----

absl::Status RunIngest(const Invocation& inv, const Io& io) {
  auto stub = iv1::IngestService::NewStub(MakeChannel(inv.addr));
  if (inv.command == Command::kIngestStatus) {
    iv1::GetIngestStatusRequest req;
    for (const auto& id : inv.items) req.add_item_ids(id);
    iv1::IngestStatus resp;
    return Print(stub->GetIngestStatus(Ctx(inv).get(), req, &resp), resp, inv, io,
                 FormatIngestStatus);
  }
  iv1::IngestTestEventRequest req;
  req.set_item_id(inv.items.at(0));
  const absl::Time ts = inv.source_ts == absl::InfinitePast() ? absl::Now() : inv.source_ts;
  iss::ToProto(ts, req.mutable_source_ts());
  req.set_value(inv.value);
  if (inv.status_class) req.set_status_class(*inv.status_class);
  if (inv.status_indicator) req.set_status_indicator(*inv.status_indicator);
  if (inv.status_color) req.set_status_color(*inv.status_color);
  if (inv.calibrated_data) req.set_calibrated_data(*inv.calibrated_data);
  iv1::IngestTestEventResponse resp;
  return Print(stub->IngestTestEvent(Ctx(inv, true).get(), req, &resp), resp, inv, io,
               FormatIngestSent);
}

}  // namespace

int Run(const Invocation& inv, const Io& io) {
  absl::Status s;
  switch (inv.command) {
    case Command::kHelp:
      *io.out << inv.help_text;
      return kExitOk;
    case Command::kQuery:
      s = RunQuery(inv, io);
      break;
    case Command::kLatest:
      s = RunLatest(inv, io);
      break;
    case Command::kTail:
      s = RunTail(inv, io);
      break;
    case Command::kSeries:
      s = RunSeries(inv, io);
      break;
    case Command::kItems:
      s = RunItems(inv, io);
      break;
    case Command::kItem:
      s = RunItem(inv, io);
      break;
    case Command::kStorageStatus:
      s = RunStorageStatus(inv, io);
      break;
    case Command::kPeebotDetections:
      s = RunDetections(inv, io);
      break;
    case Command::kPeebotStatus:
    case Command::kPeebotPause:
    case Command::kPeebotResume:
    case Command::kPeebotCooldown:
    case Command::kPeebotCooldownSet:
    case Command::kPeebotCooldownClear:
    case Command::kPeebotDestinations:
    case Command::kPeebotDestinationPause:
    case Command::kPeebotDestinationResume:
    case Command::kPeebotTestPost:
      s = RunPeebot(inv, io);
      break;
    case Command::kIngestStatus:
    case Command::kIngestSend:
      s = RunIngest(inv, io);
      break;
    case Command::kExport:
      s = RunExport(inv, io);
      break;
  }
  io.out->flush();
  if (s.ok()) return kExitOk;
  *io.err << "issctl: " << absl::StatusCodeToString(s.code()) << ": " << s.message() << " ("
          << Info(inv.service).name << " at " << inv.addr << ")\n";
  switch (s.code()) {
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      if (inv.admin_token.empty()) {
        *io.err << "hint: admin commands need the token in " << kEnvAdminToken << "\n";
      } else {
        *io.err << "hint: the server refused the token in " << kEnvAdminToken << "\n";
      }
      break;
    case absl::StatusCode::kUnavailable:
      *io.err << "hint: is " << Info(inv.service).name << " running there? (--addr or "
              << Info(inv.service).addr_env << ")\n";
      break;
    default:
      break;
  }
  io.err->flush();
  return ExitCodeFor(s.code());
}

}  // namespace iss::issctl
