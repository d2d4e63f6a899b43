#include "services/ingestion/tlcp/session.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace iss::tlcp {
namespace {

int64_t MillisOf(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

// Debian's Abseil has its own string_view type (not std::string_view).
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

bool VersionAtLeast(std::string_view version, int major, int minor) {
  std::vector<absl::string_view> parts = absl::StrSplit(Av(version), '.');
  int got_major = 0, got_minor = 0;
  if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &got_major) ||
      !absl::SimpleAtoi(parts[1], &got_minor)) {
    return false;
  }
  return got_major > major || (got_major == major && got_minor >= minor);
}

std::string CreateSessionRequest(const SessionOptions& options) {
  std::vector<std::pair<std::string, std::string>> params = {
      {"LS_adapter_set", options.adapter_set},
      {"LS_cid", options.cid},
      {"LS_send_sync", "true"},
      {"LS_keepalive_millis", absl::StrCat(MillisOf(options.keepalive))},
  };
  // TLCP 2.4 lets the server send a value as a diff of the previous one (^P
  // JSON Patch, ^T TLCP-diff) unless the client lists the formats it takes:
  // an empty list asks for whole values (the changelog's sanctioned way to
  // speak 2.4+ without diffs). ISSLIVE values are short numbers anyway.
  if (VersionAtLeast(options.protocol_version, 2, 4)) params.emplace_back("LS_supported_diffs", "");
  return absl::StrCat("create_session\r\n", FormatParams(params));
}

absl::Status ValidateMaxFrequency(std::string_view value) {
  if (value == "unlimited" || value == "unfiltered") return absl::OkStatus();
  double d = 0;
  const bool digits =
      !value.empty() && value.find_first_not_of("0123456789.") == std::string_view::npos;
  if (!digits || !absl::SimpleAtod(Av(value), &d) || !(d > 0) || d > 1e9) {
    return absl::InvalidArgumentError(
        absl::StrCat("max frequency \"", Av(value),
                     "\": expected unlimited, unfiltered or updates/s (e.g. 2.5)"));
  }
  return absl::OkStatus();
}

Retry SessionCodeRetry(int64_t code, bool end) {
  switch (code) {
    case 4:   // recovery failed: progressive not kept
    case 20:  // session not found (expired, or another instance)
    case 40:  // a rebind to this session was made elsewhere
    case 41:  // the same, as official clients read it: recover
    case 48:  // maximum session duration: "open a new session immediately"
      return Retry::kNow;
    case 1:   // user/password check failed
    case 2:   // adapter set not available
    case 3:   // protocol version not compatible with the session
    case 11:  // streaming not available (licence)
    case 60:  // client version not supported
    case 64:  // error in the control part of a combined request
    case 65:  // syntax error / invalid argument values
    case 67:  // malformed request
    case 69:  // a streaming is already in place on this WebSocket
    case 70:  // session creation not allowed on this port
    case 71:  // client type not supported
      return Retry::kRefused;
    default:
      // <= 0: the server's Metadata Adapter refused us for its own reason
      // (a refusal on create; an administrator's close on END). Others
      // (5, 6: retry later; 7-10: limits; 21: another instance; 31-35:
      // closed on the server side; 66, 68: server errors): transient.
      if (code <= 0) return end ? Retry::kBackoff : Retry::kRefused;
      return Retry::kBackoff;
  }
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
    for (const char* f : iss::kIssliveFields) fields_.emplace_back(f);
  } else {
    fields_ = options_.fields;
  }
  for (const std::string& f : fields_) {
    int slot = -1;
    for (int i = 0; i < static_cast<int>(std::size(iss::kIssliveFields)); ++i) {
      if (f == iss::kIssliveFields[i]) slot = i;
    }
    field_slot_.push_back(slot);
  }
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
  ++status_version_;
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

// CONERR, END: the server refused or closed the session. Arguments: code,
// then a percent-encoded message (END may come without one).
Session::Step Session::Ended(std::string_view tag, const Message& m, bool end) {
  absl::StatusOr<int64_t> code = ParseIntArg(m.args[0], INT32_MIN, INT32_MAX);
  Step step = Reconnect(absl::StrCat(Av(tag), " ", Av(m.args[0])), false);
  step.code = code.ok() ? *code : 0;
  step.message = m.args.size() > 1 ? DecodeText(m.args[1]) : "";
  step.retry = code.ok() ? SessionCodeRetry(*code, end) : Retry::kBackoff;
  if (!step.message.empty()) absl::StrAppend(&step.reason, ": ", step.message);
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
      return OnConok(m, line, now);
    case MessageType::kServname:
      server_name_ = DecodeText(m.args[0]);
      return {};
    case MessageType::kSync: {
      // Seconds since the server bound the session to this connection: how
      // much more time passed here is how far behind we read the stream.
      absl::StatusOr<int64_t> secs = ParseIntArg(m.args[0], 0, INT32_MAX);
      if (!secs.ok()) {
        BadLine("bad_number", line);
        return {};
      }
      if (bound_at_ != absl::InfinitePast()) {
        sync_lag_ = std::max(absl::ZeroDuration(), (now - bound_at_) - absl::Seconds(*secs));
        if (events_ != nullptr) events_->OnSyncLag(sync_lag_);
      }
      return {};
    }
    case MessageType::kConf: {
      Subscription* sub = FindSub(m.args[0], line);
      if (sub == nullptr) return {};
      ++status_version_;
      sub->max_frequency = std::string(m.args[1]);
      sub->filtered = m.args[2] != "unfiltered";
      return {};
    }
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
      ++status_version_;
      for (const std::string& item : sub->items) refused_.erase(item);
      return {};
    }
    case MessageType::kEos: {
      ItemRef item = FindItem(m, line);
      if (item.sub != nullptr) item.sub->snapshot_done[item.index] = true;
      return {};
    }
    case MessageType::kCs: {
      ItemRef item = FindItem(m, line);
      // Clear snapshot: forget the item's state; the next update is complete.
      if (item.sub != nullptr) item.sub->state[item.index].assign(fields_.size(), std::nullopt);
      return {};
    }
    case MessageType::kOv:
      Notice("overflow", line);  // the server dropped updates for this item
      return {};
    case MessageType::kUnsub: {
      absl::StatusOr<int64_t> id = ParseIntArg(m.args[0], 0, INT64_MAX);
      if (id.ok() && subs_.erase(*id) > 0) ++status_version_;
      return {};
    }
    case MessageType::kReqerr:
      return OnReqerr(m, line, now);
    case MessageType::kLoop:
      // The server wants the session rebound on a new connection.
      return Reconnect("LOOP", /*rebind=*/true);
    case MessageType::kEnd:
      Notice("session_ended", line);
      return Ended("END", m, /*end=*/true);
    case MessageType::kConerr:
      Notice("connection_refused", line);
      return Ended("CONERR", m, /*end=*/false);
    case MessageType::kError: {
      // A request the server could not even read: ours is broken, and
      // sending it again will not help (the official clients give up).
      Notice("error", line);
      Step step = Ended("ERROR", m, /*end=*/false);
      step.retry = Retry::kRefused;
      return step;
    }
    case MessageType::kMsgfail:
      Notice("message_failed", line);
      return {};
    default:
      // CLIENTIP, CONS, REQOK, PROBE, NOOP, PROG, MSGDONE, WSOK: liveness and
      // information only.
      return {};
  }
}

Session::Step Session::OnConok(const Message& m, std::string_view line, absl::Time now) {
  absl::StatusOr<int64_t> limit = ParseIntArg(m.args[1], 0, INT64_MAX);
  absl::StatusOr<int64_t> keepalive = ParseIntArg(m.args[2], 0, INT64_MAX);
  if (m.args[0].empty() || !limit.ok() || !keepalive.ok()) {
    BadLine("bad_conok", line);
    return Reconnect("malformed CONOK", false);
  }
  const bool rebound = rebind_ && session_id_ == m.args[0];
  session_id_ = std::string(m.args[0]);
  request_limit_ = *limit;
  control_link_ = m.args[3] == "*" ? "" : DecodeText(m.args[3]);
  ++status_version_;
  bound_at_ = now;
  sync_lag_ = absl::ZeroDuration();
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
    // A new session: nothing of the old one survives; subscribe everything
    // but the items refused lately (Tick asks for those when their time comes).
    subs_.clear();
    std::vector<std::string> items;
    items.reserve(options_.items.size());
    for (const std::string& item : options_.items) {
      auto r = refused_.find(item);
      if (r == refused_.end() || r->second.retry_at <= now) items.push_back(item);
    }
    Subscribe(items, step);
  }
  return step;
}

}  // namespace iss::tlcp
