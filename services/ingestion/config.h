// Owns: iss-ingestion's configuration: every setting declared once (name,
// range, help; the default is the field's value in the options struct it
// fills), read from the environment at start-up.
#pragma once

#include <string>

#include "absl/time/time.h"
#include "common/kafka.h"
#include "common/net.h"
#include "services/ingestion/publisher.h"
#include "services/ingestion/recorder.h"
#include "services/ingestion/replay.h"
#include "services/ingestion/tlcp/client.h"

namespace iss::ingest {

struct IngestConfig {
  IngestConfig();
  kafka::ProducerOptions producer;
  PublisherOptions publisher;
  size_t queue_capacity = 10000;   // between validation and publish
  std::string source = "isslive";  // isslive | replay | none
  // `source` of the Lightstreamer client's events ("simulator" offline).
  std::string source_label = "isslive";
  net::HostPort ls_server{"push.lightstreamer.com", 443};
  tlcp::ClientOptions client;  // host/port/items are filled from the above
  std::string ls_items;        // comma-separated; empty = the catalog
  ReplayOptions replay;        // ISS_INGEST_SOURCE=replay
  RecorderOptions recorder;    // recorder.dir empty = not recording
  std::string grpc_addr = "127.0.0.1:50051";
  std::string ops_addr = "127.0.0.1:9101";
  std::string address_file;  // ISS_ADDRESS_FILE (common/address_file.h)
  std::string admin_token;
  absl::Duration shutdown_timeout = absl::Seconds(30);
  std::string log_level = "info";
};

// Reads the configuration; `--help` prints it and exits 0, bad values exit 2
// with one line per variable.
IngestConfig LoadConfigOrExit(int argc, char** argv);

}  // namespace iss::ingest
