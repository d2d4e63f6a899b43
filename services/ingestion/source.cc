#include "services/ingestion/source.h"

#include "absl/strings/str_cat.h"

namespace iss::ingest {

absl::StatusOr<std::unique_ptr<Source>> Source::Start(const IngestConfig& c, UpdateSink* sink,
                                                      Pipeline* pipeline) {
  std::unique_ptr<Source> source(new Source(c.source_label, sink));
  if (c.source == "isslive") {
    source->client_ = std::make_unique<tlcp::Client>(c.client, &source->labelled_);
    if (absl::Status s = source->client_->Start(); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("lightstreamer client: ", s.message()));
    }
  } else if (c.source == "replay") {
    source->replay_path_ = c.replay.path;
    source->replay_ = std::make_unique<ReplaySource>(
        c.replay, sink, [pipeline](std::string_view detail, std::string_view raw) {
          return pipeline->RejectUndecodable(detail, raw, "replay");
        });
    if (absl::Status s = source->replay_->Start(); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("replay source: ", s.message()));
    }
  }
  return source;
}

Source::~Source() { Stop(); }

SourceStatus Source::Status() const {
  SourceStatus st;
  if (client_) {
    const tlcp::ClientStatus c = client_->Status();
    st.state = c.state;
    st.session_id = c.session_id;
    st.server = c.server;
    st.subscribed_items = c.subscribed_items;
    st.reconnects = c.reconnects;
    tlcp::DescribeStatus(c, &st.detail);
  } else if (replay_) {
    st.state = replay_->progress().done ? iss::ingest::v1::CONNECTION_STATE_DISCONNECTED
                                        : iss::ingest::v1::CONNECTION_STATE_CONNECTED;
    st.server = absl::StrCat("replay:", replay_path_);
  }
  return st;
}

bool Source::Ready(std::string* detail) const {
  const SourceStatus st = Status();
  *detail = iss::ingest::v1::ConnectionState_Name(st.state);
  if (!st.detail.state_reason().empty()) absl::StrAppend(detail, ": ", st.detail.state_reason());
  return st.state == iss::ingest::v1::CONNECTION_STATE_CONNECTED ||
         (replay_ && replay_->progress().done);
}

void Source::Stop() {
  if (client_) client_->Stop();
  if (replay_) replay_->Stop();
}

}  // namespace iss::ingest
