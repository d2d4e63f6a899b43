// Owns: the client side of one TLCP session as a state machine, free of I/O:
// which requests to send on a fresh connection (create_session, or
// bind_session after a LOOP), the subscriptions (batched control adds), the
// per-item field state that the compact update encoding is relative to, and
// what each notification means for the connection (carry on, reconnect,
// rebind, stop). Decoded updates go to the UpdateSink as RawUpdates.
//
// The Client (client.cc) feeds it lines read from the WebSocket and writes
// what it asks to send; unit tests feed it lines directly.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "services/ingestion/update.h"
#include "tlcp/codec.h"

namespace iss::tlcp {

struct SessionOptions {
  // The TLCP version spoken (the WebSocket subprotocol's number). From 2.4
  // on, create_session asks for no diff format (LS_supported_diffs empty):
  // every value then arrives whole.
  std::string protocol_version = "2.5.0";
  std::string adapter_set = "ISSLIVE";
  std::string data_adapter;  // empty = default
  std::string cid;
  absl::Duration keepalive = absl::Seconds(5);  // asked for; the server decides
  // The longest keep-alive we believe from CONOK (or `keepalive`, if longer).
  // The stall watchdog waits keep-alive + margin for a PROBE: a server granting
  // hours (or INT64_MAX ms) would otherwise switch stall detection off.
  absl::Duration max_keepalive = absl::Seconds(60);
  std::vector<std::string> items;
  std::vector<std::string> fields;  // schema order; empty = iss::kIssliveFields
  int items_per_request = 100;
  // LS_requested_max_frequency of every subscription: "unlimited" asks the
  // server not to throttle (it may still conflate: CONF says what it grants).
  std::string requested_max_frequency = "unlimited";
  // An item the server refused is asked for again this long after (items
  // come and go on the live feed), not on every new session.
  absl::Duration refused_retry = absl::Hours(1);
};

// LS_requested_max_frequency values the server takes: "unlimited",
// "unfiltered" or a positive decimal (updates per second).
absl::Status ValidateMaxFrequency(std::string_view value);

// What to do after the server ended or refused the session, by its code
// (TLCP 2.5 Appendix A; what Lightstreamer's own clients do). The table is
// SessionCodeRetry() and docs/runbook.md ("When ISSLIVE refuses or changes").
enum class Retry {
  kNow,      // open a new session at once: 4, 20, 40, 41, 48 ("reopen now")
  kBackoff,  // transient (overload, server-side close, ...): retry with backoff
  kRefused,  // permanent (no such adapter set, client not supported, licence,
             // a request the server cannot parse): long backoff, told plainly
};
// `end`: the code came in END (a live session closed) rather than CONERR.
Retry SessionCodeRetry(int64_t code, bool end);

// An item whose subscription the server refused (REQERR), isolated from the
// items it was batched with.
struct RefusedItem {
  std::string item_id;
  int64_t code = 0;
  std::string message;  // percent-decoded
  absl::Time since;
  absl::Time retry_at;
};

// What CONF granted, summed over the subscriptions that share it.
struct FrequencyGrant {
  std::string max_frequency;  // "unlimited" or updates/s
  bool filtered = true;
  uint32_t items = 0;
};

// Hooks for counting and logging what the session sees (the Client maps them
// to metrics and rate-limited logs). Default: ignore.
class SessionEvents {
 public:
  virtual ~SessionEvents() = default;
  virtual void OnMessage(MessageType type) {}
  // A line we could not use; `line` is the raw text.
  virtual void OnMalformed(std::string_view reason, std::string_view line) {}
  virtual void OnUnknown(std::string_view tag, std::string_view line) {}
  // REQERR, ERROR, CONERR, END, OV and the like, worth a log line.
  virtual void OnNotice(std::string_view what, std::string_view detail) {}
  // How far behind the server's clock the client reads the stream (SYNC):
  // local time since the bind minus the server's.
  virtual void OnSyncLag(absl::Duration lag) {}
};

class Session {
 public:
  // `sink` and `events` are not owned; `events` may be null.
  Session(SessionOptions options, ingest::UpdateSink* sink, SessionEvents* events);

  // What happens to the connection after a line.
  struct Step {
    enum Kind { kContinue, kReconnect, kStop };
    Kind kind = kContinue;
    std::string reason;             // for kReconnect/kStop: why
    std::vector<std::string> send;  // requests to write, in order
    // kReconnect: how soon, and the server's code and message when it ended
    // or refused the session (CONERR, END, ERROR, REQERR 20).
    Retry retry = Retry::kBackoff;
    int64_t code = 0;
    std::string message;
  };

  // Requests for a freshly opened WebSocket: "wsok", then bind_session when
  // the server asked us to rebind (LOOP), else create_session.
  std::vector<std::string> Open();
  // Handles one notification line (without CR LF) read at `now`.
  Step OnLine(std::string_view line, absl::Time now);
  // Time passing with nothing read: refused items whose retry time came are
  // asked for again (while a session is active).
  Step Tick(absl::Time now);
  // The connection is gone. Unless a rebind is pending, the session and its
  // subscriptions are forgotten (they will be recreated).
  void OnDisconnected();

  bool established() const { return phase_ == Phase::kActive; }
  bool rebinding() const { return rebind_; }
  const std::string& session_id() const { return session_id_; }
  const std::string& server_name() const { return server_name_; }
  // The keep-alive the server granted in CONOK (what it promises to PROBE at),
  // at most max(options.max_keepalive, options.keepalive).
  absl::Duration keepalive() const { return keepalive_; }
  // Items in subscriptions the server confirmed (SUBOK).
  uint32_t subscribed_items() const;
  uint64_t updates_delivered() const { return updates_delivered_; }
  const std::vector<std::string>& fields() const { return fields_; }
  // CONOK's control link, percent-decoded; empty when it was "*" (binds go
  // where the session was created).
  const std::string& control_link() const { return control_link_; }
  // Items refused now, in item order.
  std::vector<RefusedItem> refused_items() const;
  bool has_refused_items() const { return !refused_.empty(); }
  std::vector<FrequencyGrant> frequency_grants() const;
  // The last SYNC's lag (zero before the first SYNC of a bind).
  absl::Duration sync_lag() const { return sync_lag_; }
  // Changes whenever subscriptions, refused items, grants or the control
  // link change: the client copies those out only then, not per frame.
  uint64_t status_version() const { return status_version_; }

 private:
  enum class Phase { kIdle, kAwaitConok, kActive };
  struct Subscription {
    int64_t req_id = 0;
    std::vector<std::string> items;
    std::vector<FieldValues> state;   // per item
    std::vector<bool> snapshot_done;  // per item: first update (or EOS) seen
    bool confirmed = false;
    std::string max_frequency;  // from CONF
    bool filtered = true;
  };

  // Subscribes `items` in batches (items_per_request, the request limit).
  void Subscribe(const std::vector<std::string>& items, Step& step);
  Step OnConok(const Message& m, std::string_view line, absl::Time now);
  Step OnReqerr(const Message& m, std::string_view line, absl::Time now);
  Step Ended(std::string_view tag, const Message& m, bool end);
  Step OnUpdate(const Message& m, std::string_view line, absl::Time now);
  Step Reconnect(std::string reason, bool rebind);
  Subscription* FindSub(std::string_view arg, std::string_view line);
  // The item a per-item message (U, EOS, CS: subscription id, 1-based item
  // index) names; `sub` is null after the line was reported as malformed.
  struct ItemRef {
    Subscription* sub = nullptr;
    size_t index = 0;
  };
  ItemRef FindItem(const Message& m, std::string_view line);
  void Deliver(const std::string& item, const FieldValues* values, bool snapshot,
               std::string_view line, absl::Time now, Step& step);
  void Notice(std::string_view what, std::string_view detail);
  void BadLine(std::string_view reason, std::string_view line);

  const SessionOptions options_;
  std::vector<std::string> fields_;
  std::vector<int> field_slot_;  // schema index -> RawUpdate slot (-1 = not mapped)
  ingest::UpdateSink* sink_;
  SessionEvents* events_;

  Phase phase_ = Phase::kIdle;
  bool rebind_ = false;
  std::string session_id_;
  std::string server_name_;
  absl::Duration keepalive_;
  int64_t request_limit_ = 0;  // bytes; 0 = unknown
  int64_t next_req_id_ = 1;
  int64_t next_sub_id_ = 1;
  std::map<int64_t, Subscription> subs_;
  std::map<std::string, RefusedItem> refused_;  // kept across sessions
  std::string control_link_;
  absl::Time bound_at_ = absl::InfinitePast();  // SYNC counts from each bind
  absl::Duration sync_lag_ = absl::ZeroDuration();
  uint64_t status_version_ = 0;
  uint64_t updates_delivered_ = 0;
};

// The text of the create_session / bind_session / control requests, exposed
// for tests and the simulator's tests.
std::string CreateSessionRequest(const SessionOptions& options);
// Whether `version` ("2.5.0") is at least major.minor.
bool VersionAtLeast(std::string_view version, int major, int minor);
std::string BindSessionRequest(const std::string& session_id, absl::Duration keepalive);

}  // namespace iss::tlcp
