#include "services/ingestion/tlcp/session.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace iss::tlcp {
namespace {

// RawUpdate slots, in the order of ingest::kIssliveFields.
std::optional<std::string>* Slot(ingest::RawUpdate& u, int slot) {
  switch (slot) {
    case 0: return &u.value;
    case 1: return &u.timestamp;
    case 2: return &u.status_class;
    case 3: return &u.status_indicator;
    case 4: return &u.status_color;
    case 5: return &u.calibrated_data;
    default: return nullptr;
  }
}

int64_t MillisOf(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

// Debian's Abseil has its own string_view type (not std::string_view).
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

std::string CreateSessionRequest(const SessionOptions& options) {
  std::vector<std::pair<std::string, std::string>> params = {
      {"LS_adapter_set", options.adapter_set},
      {"LS_cid", options.cid},
      {"LS_send_sync", "true"},
      {"LS_keepalive_millis", absl::StrCat(MillisOf(options.keepalive))},
  };
  return absl::StrCat("create_session\r\n", FormatParams(params));
}

std::string BindSessionRequest(const std::string& session_id, absl::Duration keepalive) {
  return absl::StrCat("bind_session\r\n",
                      FormatParams({{"LS_session", session_id},
                                    {"LS_send_sync", "true"},
                                    {"LS_keepalive_millis", absl::StrCat(MillisOf(keepalive))}}));
}

namespace {
// The same item twice would be subscribed (and delivered) twice.
SessionOptions WithoutDuplicateItems(SessionOptions o) {
  std::vector<std::string> unique;
  absl::flat_hash_set<std::string> seen;
  for (std::string& item : o.items) {
    if (seen.insert(item).second) unique.push_back(std::move(item));
  }
  o.items = std::move(unique);
  return o;
}
}  // namespace

Session::Session(SessionOptions options, ingest::UpdateSink* sink, SessionEvents* events)
    : options_(WithoutDuplicateItems(std::move(options))),
      sink_(sink),
      events_(events),
      keepalive_(options_.keepalive) {
  if (options_.fields.empty()) {
    for (const char* f : ingest::kIssliveFields) fields_.emplace_back(f);
  } else {
    fields_ = options_.fields;
  }
  for (const std::string& f : fields_) {
    int slot = -1;
    for (int i = 0; i < static_cast<int>(std::size(ingest::kIssliveFields)); ++i) {
      if (f == ingest::kIssliveFields[i]) slot = i;
    }
    field_slot_.push_back(slot);
  }
}

uint32_t Session::subscribed_items() const {
  uint32_t n = 0;
  for (const auto& [id, sub] : subs_) {
    if (sub.confirmed) n += static_cast<uint32_t>(sub.items.size());
  }
  return n;
}

std::vector<std::string> Session::Open() {
  phase_ = Phase::kAwaitConok;
  std::vector<std::string> out = {"wsok"};
  if (rebind_ && !session_id_.empty()) {
    out.push_back(BindSessionRequest(session_id_, options_.keepalive));
  } else {
    rebind_ = false;
    out.push_back(CreateSessionRequest(options_));
  }
  return out;
}

void Session::OnDisconnected() {
  phase_ = Phase::kIdle;
  if (!rebind_) {
    session_id_.clear();
    subs_.clear();
  }
}

void Session::Notice(std::string_view what, std::string_view detail) {
  if (events_ != nullptr) events_->OnNotice(what, detail);
}

void Session::BadLine(std::string_view reason, std::string_view line) {
  if (events_ != nullptr) events_->OnMalformed(reason, line);
}

Session::Step Session::Reconnect(std::string reason, bool rebind) {
  rebind_ = rebind;
  Step step;
  step.kind = Step::kReconnect;
  step.reason = std::move(reason);
  return step;
}

Session::Step Session::OnLine(std::string_view line, absl::Time now) {
  absl::StatusOr<Message> parsed = ParseMessage(line);
  if (!parsed.ok()) {
    BadLine(MalformedReason(parsed.status()), line);
    return {};
  }
  const Message& m = *parsed;
  if (m.type == MessageType::kUnknown) {
    if (events_ != nullptr) events_->OnUnknown(m.tag, line);
    return {};
  }
  if (events_ != nullptr) events_->OnMessage(m.type);
  switch (m.type) {
    case MessageType::kUpdate:
      return OnUpdate(m, line, now);
    case MessageType::kConok:
      return OnConok(m, line);
    case MessageType::kServname:
      server_name_ = std::string(m.args[0]);
      return {};
    case MessageType::kSubok:
    case MessageType::kSubcmd: {
      Subscription* sub = FindSub(m.args[0], line);
      if (sub == nullptr) return {};
      absl::StatusOr<int64_t> items = ParseIntArg(m.args[1], 0, 1 << 20);
      absl::StatusOr<int64_t> fields = ParseIntArg(m.args[2], 0, 1 << 20);
      if (!items.ok() || !fields.ok()) {
        BadLine("bad_number", line);
        return {};
      }
      if (*items != static_cast<int64_t>(sub->items.size()) ||
          *fields != static_cast<int64_t>(fields_.size())) {
        // The server sees a different group or schema than we asked for:
        // updates could not be decoded against our state. Say so loudly.
        Notice("subscription_mismatch", line);
      }
      sub->confirmed = true;
      return {};
    }
    case MessageType::kEos: {
      Subscription* sub = FindSub(m.args[0], line);
      if (sub == nullptr) return {};
      absl::StatusOr<int64_t> item = ParseIntArg(m.args[1], 1, sub->items.size());
      if (!item.ok()) {
        BadLine("bad_item_index", line);
        return {};
      }
      sub->snapshot_done[*item - 1] = true;
      return {};
    }
    case MessageType::kCs: {
      Subscription* sub = FindSub(m.args[0], line);
      if (sub == nullptr) return {};
      absl::StatusOr<int64_t> item = ParseIntArg(m.args[1], 1, sub->items.size());
      if (!item.ok()) {
        BadLine("bad_item_index", line);
        return {};
      }
      // Clear snapshot: forget the item's state; the next update is complete.
      sub->state[*item - 1].assign(fields_.size(), std::nullopt);
      return {};
    }
    case MessageType::kOv:
      Notice("overflow", line);  // the server dropped updates for this item
      return {};
    case MessageType::kUnsub: {
      absl::StatusOr<int64_t> id = ParseIntArg(m.args[0], 0, INT64_MAX);
      if (id.ok()) subs_.erase(*id);
      return {};
    }
    case MessageType::kReqerr: {
      // A refused subscription: forget it so its items are not counted.
      absl::StatusOr<int64_t> req = ParseIntArg(m.args[0], 0, INT64_MAX);
      if (req.ok()) {
        for (auto it = subs_.begin(); it != subs_.end(); ++it) {
          if (it->second.req_id == *req) {
            subs_.erase(it);
            break;
          }
        }
      }
      Notice("request_refused", line);
      return {};
    }
    case MessageType::kLoop:
      // The server wants the session rebound on a new connection.
      return Reconnect("LOOP", /*rebind=*/true);
    case MessageType::kEnd:
      Notice("session_ended", line);
      return Reconnect(absl::StrCat("END ", Av(m.args[0])), false);
    case MessageType::kConerr:
      Notice("connection_refused", line);
      return Reconnect(absl::StrCat("CONERR ", Av(m.args[0])), false);
    case MessageType::kError:
      Notice("error", line);
      return Reconnect(absl::StrCat("ERROR ", Av(m.args[0])), false);
    case MessageType::kMsgfail:
      Notice("message_failed", line);
      return {};
    default:
      // CLIENTIP, CONS, REQOK, CONF, PROBE, SYNC, NOOP, PROG, MSGDONE, WSOK:
      // liveness and information only.
      return {};
  }
}

Session::Step Session::OnConok(const Message& m, std::string_view line) {
  absl::StatusOr<int64_t> limit = ParseIntArg(m.args[1], 0, INT64_MAX);
  absl::StatusOr<int64_t> keepalive = ParseIntArg(m.args[2], 0, INT64_MAX);
  if (m.args[0].empty() || !limit.ok() || !keepalive.ok()) {
    BadLine("bad_conok", line);
    return Reconnect("malformed CONOK", false);
  }
  const bool rebound = rebind_ && session_id_ == m.args[0];
  session_id_ = std::string(m.args[0]);
  request_limit_ = *limit;
  keepalive_ = absl::Milliseconds(*keepalive);
  const absl::Duration ceiling = std::max(options_.max_keepalive, options_.keepalive);
  if (keepalive_ > ceiling) {
    // Believing it would let a (broken or hostile) server disable the stall
    // watchdog; a server that really probes this rarely gets reconnected.
    Notice("keepalive_clamped", line);
    keepalive_ = ceiling;
  }
  phase_ = Phase::kActive;
  rebind_ = false;
  Step step;
  if (!rebound) {
    // A new session: nothing of the old one survives; subscribe everything.
    subs_.clear();
    Subscribe(step);
  }
  return step;
}

void Session::Subscribe(Step& step) {
  const std::string schema = absl::StrJoin(fields_, " ");
  const size_t per_request = std::max(1, options_.items_per_request);
  size_t i = 0;
  while (i < options_.items.size()) {
    const int64_t req_id = next_req_id_++;
    const int64_t sub_id = next_sub_id_++;
    std::vector<std::string> group;
    std::string request;
    // Fill the batch up to items_per_request, and below the server's
    // request limit when it gave one.
    while (i < options_.items.size() && group.size() < per_request) {
      group.push_back(options_.items[i]);
      std::vector<std::pair<std::string, std::string>> params = {
          {"LS_reqId", absl::StrCat(req_id)}, {"LS_op", "add"},
          {"LS_subId", absl::StrCat(sub_id)}, {"LS_mode", "MERGE"},
          {"LS_group", absl::StrJoin(group, " ")}, {"LS_schema", schema},
          {"LS_snapshot", "true"}};
      if (!options_.data_adapter.empty()) params.emplace_back("LS_data_adapter", options_.data_adapter);
      std::string candidate = absl::StrCat("control\r\n", FormatParams(params));
      if (request_limit_ > 0 && group.size() > 1 &&
          static_cast<int64_t>(candidate.size()) > request_limit_) {
        group.pop_back();
        break;
      }
      request = std::move(candidate);
      ++i;
    }
    Subscription sub;
    sub.req_id = req_id;
    sub.state.assign(group.size(), FieldValues(fields_.size()));
    sub.snapshot_done.assign(group.size(), false);
    sub.items = std::move(group);
    subs_.emplace(sub_id, std::move(sub));
    step.send.push_back(std::move(request));
  }
}

Session::Subscription* Session::FindSub(std::string_view arg, std::string_view line) {
  absl::StatusOr<int64_t> id = ParseIntArg(arg, 0, INT64_MAX);
  auto it = id.ok() ? subs_.find(*id) : subs_.end();
  if (it == subs_.end()) {
    BadLine("unknown_subscription", line);
    return nullptr;
  }
  return &it->second;
}

Session::Step Session::OnUpdate(const Message& m, std::string_view line, absl::Time now) {
  Step step;
  Subscription* sub = FindSub(m.args[0], line);
  if (sub == nullptr) return step;
  absl::StatusOr<int64_t> item = ParseIntArg(m.args[1], 1, sub->items.size());
  if (!item.ok()) {
    BadLine("bad_item_index", line);
    return step;
  }
  const size_t idx = static_cast<size_t>(*item - 1);
  // MERGE mode: the snapshot is the item's first update (servers send EOS
  // only for DISTINCT and COMMAND subscriptions).
  const bool snapshot = !sub->snapshot_done[idx];
  sub->snapshot_done[idx] = true;
  absl::Status applied = ApplyUpdate(m.args[2], sub->state[idx]);
  if (!applied.ok()) {
    // The item is known, so the pipeline gets the raw line (its validator
    // sends it to the dead-letter topic); the item's state is unchanged.
    BadLine(MalformedReason(applied), line);
    Deliver(sub->items[idx], nullptr, snapshot, line, now, step);
    return step;
  }
  Deliver(sub->items[idx], &sub->state[idx], snapshot, line, now, step);
  return step;
}

void Session::Deliver(const std::string& item, const FieldValues* values, bool snapshot,
                      std::string_view line, absl::Time now, Step& step) {
  ingest::RawUpdate u;
  u.item_id = item;
  if (values != nullptr) {
    for (size_t f = 0; f < values->size() && f < field_slot_.size(); ++f) {
      if (auto* slot = Slot(u, field_slot_[f])) *slot = (*values)[f];
    }
  }
  u.received_at = now;
  u.snapshot = snapshot;
  u.raw = std::string(line);
  ++updates_delivered_;
  if (!sink_->Deliver(std::move(u))) {
    step.kind = Step::kStop;
    step.reason = "sink closed";
  }
}

}  // namespace iss::tlcp
