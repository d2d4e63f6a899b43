// Owns: the configured source of updates behind one face: the Lightstreamer
// client (live feed, its updates stamped with the source label), a replay of
// recorded files, or none (test-ingest only). main() starts it, asks its
// status and readiness, and stops it first at shutdown.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "services/ingestion/config.h"
#include "services/ingestion/pipeline.h"
#include "services/ingestion/replay.h"
#include "services/ingestion/service.h"
#include "services/ingestion/tlcp/client.h"
#include "services/ingestion/update.h"

namespace iss::ingest {

class Source {
 public:
  // `sink` takes every update (the recorder's, or the pipeline itself);
  // `pipeline` dead-letters replay lines that do not decode.
  static absl::StatusOr<std::unique_ptr<Source>> Start(const IngestConfig& config, UpdateSink* sink,
                                                       Pipeline* pipeline);
  ~Source();  // Stop()

  SourceStatus Status() const;
  // For /readyz: updates flow (or the replay is complete); `detail` says the
  // state and why ("CONNECTION_STATE_REFUSED: CONERR 2: Requested ...").
  bool Ready(std::string* detail) const;
  // The live feed: its signal state follows the wall clock.
  bool live() const { return client_ != nullptr; }
  void Stop();

 private:
  // Stamps the configured label on the client's updates ("isslive", or
  // "simulator" when pointed at the offline simulator).
  class Labelled final : public UpdateSink {
   public:
    Labelled(std::string label, UpdateSink* next) : label_(std::move(label)), next_(next) {}
    bool Deliver(RawUpdate update) override {
      update.source = label_;
      return next_->Deliver(std::move(update));
    }

   private:
    const std::string label_;
    UpdateSink* const next_;
  };

  Source(std::string label, UpdateSink* sink) : labelled_(std::move(label), sink) {}

  Labelled labelled_;
  std::string replay_path_;
  std::unique_ptr<tlcp::Client> client_;
  std::unique_ptr<ReplaySource> replay_;
};

}  // namespace iss::ingest
