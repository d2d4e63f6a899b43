// Owns: one live Lightstreamer (TLCP 2.x) connection to ISSLIVE or the
// simulator, over Beast WebSocket (plain or TLS), and keeping it alive.
//
// The client runs its own io thread. It opens the WebSocket, sends `wsok` and
// `create_session`, subscribes every configured item in MERGE mode with
// snapshot (batched into `items_per_request` items per control request),
// decodes the updates and hands each one to the UpdateSink as a RawUpdate.
// A stalled stream (nothing, not even PROBE, within keepalive + stall_margin)
// or a dropped socket leads to a reconnect with exponential backoff + jitter;
// after `circuit_failures` consecutive failed attempts the circuit opens for
// `circuit_open_for`. What the server says decides the rest (Retry in
// session.h): a "reopen now" code opens a new session at once, a transient
// one backs off, a permanent refusal puts the source in REFUSED and waits
// `refused_backoff`. After a LOOP the session is rebound on a new connection
// (bind_session, to CONOK's control link when the server gave one);
// otherwise a new session is created and everything is subscribed again.
//
// Sink::Deliver() may block: the client then stops reading its socket, which
// is how backpressure reaches the server. If Deliver() returns false the
// client stops.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "iss/ingest/v1/ingest.pb.h"
#include "services/ingestion/tlcp/session.h"
#include "services/ingestion/update.h"

namespace iss::tlcp {

struct ClientOptions {
  std::string host = "push.lightstreamer.com";
  int port = 443;
  bool tls = true;
  std::string path = "/lightstreamer";
  // TLCP-2.5.0 (what Lightstreamer's own clients speak) or TLCP-2.2.0.
  std::string subprotocol = "TLCP-2.5.0.lightstreamer.com";
  std::string adapter_set = "ISSLIVE";
  std::string data_adapter;                         // empty = the adapter set's default
  std::vector<std::string> items;                   // catalog + TIME_000001
  std::vector<std::string> fields;                  // empty = iss::kIssliveFields
  std::string cid = "mgQkwtwdysogQz2BJ4Ji kOj2Bg";  // LS_cid (public client id)
  absl::Duration keepalive = absl::Seconds(5);      // LS_keepalive_millis asked for
  // Cap on the keep-alive the server grants (if above `keepalive`), so the
  // stall watchdog stays on whatever CONOK says (see SessionOptions).
  absl::Duration max_keepalive = absl::Seconds(60);
  absl::Duration stall_margin = absl::Seconds(5);
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration backoff_initial = absl::Milliseconds(500);
  absl::Duration backoff_max = absl::Seconds(30);
  int circuit_failures = 8;
  absl::Duration circuit_open_for = absl::Seconds(60);
  int items_per_request = 100;                         // items per control add request
  std::string requested_max_frequency = "unlimited";   // LS_requested_max_frequency
  absl::Duration refused_retry = absl::Hours(1);       // ask for a refused item again after
  absl::Duration refused_backoff = absl::Minutes(15);  // wait after a permanent refusal
  // After a "reopen now" END (48, 40, 41) on a live session: at most this
  // random pause before the new session (Lightstreamer's clients: 100 ms).
  absl::Duration reopen_jitter = absl::Milliseconds(100);
  bool verify_tls_peer = true;  // verify the server certificate (TLS only)
  std::string tls_ca_file;      // extra trusted CA certificates (PEM); empty = system store only
};

struct ClientStatus {
  iss::ingest::v1::ConnectionState state = iss::ingest::v1::CONNECTION_STATE_DISCONNECTED;
  std::string session_id;
  std::string server;        // host:port in use
  std::string control_link;  // CONOK's control link, when the server gave one
  uint32_t subscribed_items = 0;
  uint64_t reconnects = 0;
  uint64_t updates = 0;  // updates handed to the sink
  absl::Time last_message_at = absl::InfinitePast();
  // Why the source is not streaming ("connect: resolve push.lightstreamer.com:
  // Host not found", "CONERR 2: Requested Adapter Set not available"); empty
  // while streaming.
  std::string reason;
  int64_t refusal_code = 0;  // REFUSED: the server's code and message
  std::string refusal_message;
  absl::Time next_attempt_at = absl::InfinitePast();  // while waiting to reconnect
  std::string hint;                                   // what the operator can do about `reason`
  std::vector<RefusedItem> refused_items;
  std::vector<FrequencyGrant> frequency_grants;
  absl::Duration sync_lag = absl::ZeroDuration();
};

// Copies what GetIngestStatus tells about the feed (why it is not streaming,
// the server's refusal, the next attempt, the hint, refused items, granted
// frequencies, the control link) into `out`. Never the session id.
void DescribeStatus(const ClientStatus& status, iss::ingest::v1::IngestStatus* out);

class Client {
 public:
  // `sink` is not owned and must outlive the client.
  Client(ClientOptions options, ingest::UpdateSink* sink);
  ~Client();  // Stop()s
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Validates the options and starts the io thread; connection failures are
  // not errors here (they are retried), only bad options are.
  absl::Status Start();
  // Closes the connection and joins the io thread. Idempotent.
  void Stop();
  // Thread-safe snapshot.
  ClientStatus Status() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace iss::tlcp
