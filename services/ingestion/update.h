// Owns: the shape of one raw update as a source (the Lightstreamer client, the
// replay file reader, the test-ingest RPC) hands it to the pipeline, before
// validation. This is the seam between "source" and "validate".
#pragma once

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "common/catalog.h"  // kIssliveFields: RawUpdate's fields, in that order

namespace iss::ingest {

struct RawUpdate {
  std::string item_id;
  // Decoded field values; nullopt = the server sent null ('#').
  std::optional<std::string> value;
  std::optional<std::string> timestamp;  // ISSLIVE TimeStamp text (decimal hours)
  std::optional<std::string> status_class;
  std::optional<std::string> status_indicator;
  std::optional<std::string> status_color;
  std::optional<std::string> calibrated_data;
  absl::Time received_at;
  bool snapshot = false;  // part of the subscription's initial snapshot
  std::string source = "isslive";
  // The raw protocol line (or file line) it came from, kept for the DLQ.
  std::string raw;
};

// Where a source delivers updates. Deliver() may block: that is how the
// pipeline's bounded queue pushes back on a source (the client stops reading
// its socket while the queue is full). Returns false when the pipeline is
// shutting down and the source should stop.
class UpdateSink {
 public:
  virtual ~UpdateSink() = default;
  virtual bool Deliver(RawUpdate update) = 0;
};

}  // namespace iss::ingest
