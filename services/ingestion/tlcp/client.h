// Owns: one live Lightstreamer (TLCP 2.x) connection to ISSLIVE or the
// simulator, over Beast WebSocket (plain or TLS), and keeping it alive.
//
// The client runs its own io thread. It opens the WebSocket, sends `wsok` and
// `create_session`, subscribes every configured item in MERGE mode with
// snapshot (batched into `items_per_request` items per control request),
// decodes the updates and hands each one to the UpdateSink as a RawUpdate.
// A stalled stream (nothing, not even PROBE, within keepalive + stall_margin),
// a dropped socket, END, CONERR or ERROR all lead to a reconnect with
// exponential backoff + jitter; after `circuit_failures` consecutive failed
// attempts the circuit opens for `circuit_open_for`. After a LOOP the session
// is rebound on a new connection (bind_session); otherwise a new session is
// created and everything is subscribed again.
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
#include "services/ingestion/update.h"

namespace iss::tlcp {

struct ClientOptions {
  std::string host = "push.lightstreamer.com";
  int port = 443;
  bool tls = true;
  std::string path = "/lightstreamer";
  std::string subprotocol = "TLCP-2.2.0.lightstreamer.com";
  std::string adapter_set = "ISSLIVE";
  std::string data_adapter;                  // empty = the adapter set's default
  std::vector<std::string> items;            // catalog + TIME_000001
  std::vector<std::string> fields;           // empty = ingest::kIssliveFields
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
  int items_per_request = 100;               // items per control add request
  bool verify_tls_peer = true;               // verify the server certificate (TLS only)
  std::string tls_ca_file;                   // extra trusted CA certificates (PEM); empty = system store only
};

struct ClientStatus {
  iss::ingest::v1::ConnectionState state =
      iss::ingest::v1::CONNECTION_STATE_DISCONNECTED;
  std::string session_id;
  std::string server;          // host:port in use
  uint32_t subscribed_items = 0;
  uint64_t reconnects = 0;
  uint64_t updates = 0;        // updates handed to the sink
  absl::Time last_message_at = absl::InfinitePast();
};

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
