// The TLCP client's public side: option checks, start and stop of the io
// thread, and what the client reports (status, metrics, rate-limited logs
// of what the session sees). The connection loop is client_connection.cc.
#include <utility>  // before Asio (g++ 12 + Boost 1.74)

#include <boost/asio/ssl.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_util.h"
#include "services/ingestion/tlcp/client_impl.h"

namespace iss::tlcp {
namespace {

// "TLCP-2.5.0.lightstreamer.com" -> "2.5.0".
std::string ProtocolVersion(std::string_view subprotocol) {
  if (subprotocol.substr(0, 5) == "TLCP-") subprotocol.remove_prefix(5);
  return std::string(subprotocol.substr(0, subprotocol.find(".lightstreamer.com")));
}

}  // namespace

Client::Impl::Impl(ClientOptions opts, ingest::UpdateSink* s)
    : options(std::move(opts)),
      sink(s),
      session(MakeSessionOptions(options), sink, this),
      policy({options.backoff_initial, options.backoff_max, options.circuit_failures,
              options.circuit_open_for},
             static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()))),
      server{options.host, options.port, options.path},
      rng(static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()))) {
  status.server = server.HostPort();
}

SessionOptions Client::Impl::MakeSessionOptions(const ClientOptions& o) {
  SessionOptions s;
  s.protocol_version = ProtocolVersion(o.subprotocol);
  s.requested_max_frequency = o.requested_max_frequency;
  s.refused_retry = o.refused_retry;
  s.adapter_set = o.adapter_set;
  s.data_adapter = o.data_adapter;
  s.cid = o.cid;
  s.keepalive = o.keepalive;
  s.max_keepalive = o.max_keepalive;
  s.items = o.items;
  s.fields = o.fields;
  s.items_per_request = o.items_per_request;
  return s;
}

void Client::Impl::OnMessage(MessageType type) {
  ClientMetrics::Get().messages.Add({{"type", std::string(MessageTypeName(type))}}).Increment();
}

void Client::Impl::OnMalformed(std::string_view reason, std::string_view line) {
  ClientMetrics::Get().malformed.Add({{"reason", std::string(reason)}}).Increment();
  int64_t suppressed = 0;
  if (log_limiter.Allow(absl::StrCat("malformed:", std::string(reason)), &suppressed)) {
    log::Warn("malformed TLCP line",
              {{"reason", reason}, {"line", line.substr(0, 200)}, {"suppressed", suppressed}});
  }
}

void Client::Impl::OnUnknown(std::string_view tag, std::string_view line) {
  ClientMetrics::Get().unknown.Increment();
  int64_t suppressed = 0;
  if (log_limiter.Allow("unknown", &suppressed)) {
    log::Warn(
        "unknown TLCP message",
        {{"tag", tag.substr(0, 32)}, {"line", line.substr(0, 200)}, {"suppressed", suppressed}});
  }
}

void Client::Impl::OnNotice(std::string_view what, std::string_view detail) {
  ClientMetrics::Get().notices.Add({{"kind", std::string(what)}}).Increment();
  int64_t suppressed = 0;
  if (log_limiter.Allow(absl::StrCat("notice:", std::string(what)), &suppressed)) {
    log::Warn("TLCP server notice",
              {{"kind", what}, {"line", detail.substr(0, 200)}, {"suppressed", suppressed}});
  }
}

void Client::Impl::OnSyncLag(absl::Duration lag) {
  ClientMetrics::Get().sync_lag.Set(absl::ToDoubleSeconds(lag));
}

void Client::Impl::SetState(ConnectionState s, std::string reason, absl::Time next_attempt) {
  {
    absl::MutexLock lock(&mu);
    status.state = s;
    if (s != iss::ingest::v1::CONNECTION_STATE_CONNECTED) status.subscribed_items = 0;
    if (s == iss::ingest::v1::CONNECTION_STATE_CONNECTED) {
      status.reason.clear();
      status.refusal_code = 0;
      status.refusal_message.clear();
      status.hint.clear();
    } else if (!reason.empty()) {
      status.reason = std::move(reason);
      status.hint = Hint(s, status.reason);
    }
    status.next_attempt_at = next_attempt;
  }
  ClientMetrics::Get().state.Set(static_cast<double>(s));
}

std::string Client::Impl::Hint(ConnectionState s, const std::string& reason) const {
  if (s == iss::ingest::v1::CONNECTION_STATE_REFUSED) {
    return absl::StrCat(
        "The Lightstreamer server refuses the session: check ISS_LS_SERVER, "
        "ISS_LS_ADAPTER_SET (",
        options.adapter_set, ") and ISS_LS_SUBPROTOCOL (", options.subprotocol,
        "); see docs/runbook.md, \"When ISSLIVE refuses or changes\".");
  }
  if (absl::StartsWith(reason, "connect") || absl::StartsWith(reason, "handshake")) {
    return absl::StrCat("The ISSLIVE server ", server.HostPort(),
                        " cannot be reached from here: check network access (DNS, proxy, "
                        "firewall). Without internet access, run the platform on the bundled "
                        "simulator: ISS_PLATFORM_FEED=simulator scripts/platform.sh");
  }
  if (absl::StartsWith(reason, "stall")) {
    return "The stream went silent (no data, no PROBE): the client reconnects by itself.";
  }
  return "";
}

void Client::Impl::PublishSessionStatus() {
  const bool changed = session.status_version() != published_version;
  published_version = session.status_version();
  uint32_t subscribed = 0;
  std::vector<RefusedItem> refused;
  std::vector<FrequencyGrant> grants;
  if (changed) {
    subscribed = session.subscribed_items();
    refused = session.refused_items();
    grants = session.frequency_grants();
    ClientMetrics::Get().refused_items.Set(static_cast<double>(refused.size()));
    ClientMetrics::Get().subscribed.Set(subscribed);
  }
  absl::MutexLock lock(&mu);
  status.updates = session.updates_delivered();
  status.last_message_at = last_message_at;
  status.sync_lag = session.sync_lag();
  if (changed) {
    status.session_id = session.session_id();
    status.subscribed_items = subscribed;
    status.refused_items = std::move(refused);
    status.frequency_grants = std::move(grants);
    status.control_link = session.control_link();
  }
}

void Client::Impl::AdoptControlLink() {
  const std::string& link = session.control_link();
  if (link.empty()) {
    control.reset();
    return;
  }
  absl::StatusOr<ControlLink> parsed = ParseControlLink(link);
  if (!parsed.ok()) {
    OnNotice("bad_control_link", link);
    control.reset();
    return;
  }
  control = Target{parsed->host, parsed->port != 0 ? parsed->port : options.port,
                   absl::StrCat(parsed->path, options.path)};
}

void DescribeStatus(const ClientStatus& s, iss::ingest::v1::IngestStatus* out) {
  out->set_state_reason(s.reason);
  out->set_refusal_code(static_cast<int32_t>(s.refusal_code));
  out->set_refusal_message(s.refusal_message);
  if (s.next_attempt_at != absl::InfinitePast()) {
    ToProto(s.next_attempt_at, out->mutable_next_attempt_at());
  }
  out->set_hint(s.hint);
  out->set_control_link(s.control_link);
  for (const RefusedItem& r : s.refused_items) {
    iss::ingest::v1::RefusedItem* item = out->add_refused_items();
    item->set_item_id(r.item_id);
    item->set_code(static_cast<int32_t>(r.code));
    item->set_message(r.message);
    ToProto(r.since, item->mutable_since());
    ToProto(r.retry_at, item->mutable_retry_at());
  }
  for (const FrequencyGrant& g : s.frequency_grants) {
    iss::ingest::v1::FrequencyGrant* grant = out->add_frequency_grants();
    grant->set_max_frequency(g.max_frequency);
    grant->set_filtered(g.filtered);
    grant->set_items(g.items);
  }
}

Client::Client(ClientOptions options, ingest::UpdateSink* sink)
    : impl_(std::make_unique<Impl>(std::move(options), sink)) {}

Client::~Client() { Stop(); }

absl::Status Client::Start() {
  const ClientOptions& o = impl_->options;
  if (o.host.empty()) return absl::InvalidArgumentError("Lightstreamer host is empty");
  if (o.port <= 0 || o.port > 65535)
    return absl::InvalidArgumentError("Lightstreamer port out of range");
  if (o.items.empty()) return absl::InvalidArgumentError("no items to subscribe");
  if (o.items_per_request < 1) return absl::InvalidArgumentError("items_per_request must be >= 1");
  if (!absl::StartsWith(o.subprotocol, "TLCP-2.") ||
      !absl::EndsWith(o.subprotocol, ".lightstreamer.com")) {
    return absl::InvalidArgumentError(
        absl::StrCat("subprotocol \"", o.subprotocol, "\" is not TLCP-2.x.y.lightstreamer.com"));
  }
  if (absl::Status s = ValidateMaxFrequency(o.requested_max_frequency); !s.ok()) return s;
  if (o.refused_retry <= absl::ZeroDuration() || o.refused_backoff <= absl::ZeroDuration() ||
      o.reopen_jitter < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "refused_retry and refused_backoff must be > 0 and reopen_jitter >= 0");
  }
  if (o.keepalive <= absl::ZeroDuration() || o.max_keepalive <= absl::ZeroDuration() ||
      o.stall_margin < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "keepalive and max_keepalive must be > 0 and stall_margin >= 0");
  }
  for (const std::string& item : o.items) {
    if (item.empty() || item.find_first_of(" \t\r\n") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("bad item name \"", item, "\""));
    }
  }
  if (impl_->thread.joinable()) return absl::FailedPreconditionError("client already started");
  if (o.tls) {
    impl_->ssl_ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    boost::system::error_code ec;
    impl_->ssl_ctx->set_default_verify_paths(ec);
    if (ec) return absl::InternalError(absl::StrCat("TLS trust store: ", ec.message()));
    if (!o.tls_ca_file.empty()) {
      impl_->ssl_ctx->load_verify_file(o.tls_ca_file, ec);
      if (ec) {
        return absl::InvalidArgumentError(
            absl::StrCat("TLS CA file ", o.tls_ca_file, ": ", ec.message()));
      }
    }
  }
  impl_->ioc = std::make_unique<asio::io_context>(1);
  impl_->StartLoop();
  return absl::OkStatus();
}

void Client::Stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->stopping = true;
  impl_->ioc->stop();
  impl_->thread.join();
  // Destroy pending coroutine frames (sockets close) before anything else.
  impl_->ioc.reset();
  impl_->SetState(iss::ingest::v1::CONNECTION_STATE_DISCONNECTED);
}

ClientStatus Client::Status() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->status;
}

}  // namespace iss::tlcp
