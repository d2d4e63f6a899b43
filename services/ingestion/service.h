// Owns: the iss.ingest.v1.IngestService RPCs. A thin edge over the pipeline:
//   IngestTestEvent  request -> ValidatedUpdate (source "test-ingest") ->
//                    Pipeline::IngestTyped (never blocks): event_id + "enqueued";
//                    INVALID_ARGUMENT naming the field, RESOURCE_EXHAUSTED when
//                    the queue is full. Admin: iss::AuthorizeAdmin first (the
//                    token is the one iss::GrpcServer was started with).
//   GetIngestStatus  the source's connection state (through SourceStatusFn, so
//                    this class does not depend on the Lightstreamer client),
//                    signal, queue, counters, per-item last updates on request.
//                    Public: the session id appears only as its fingerprint.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "iss/ingest/v1/ingest.grpc.pb.h"
#include "services/ingestion/pipeline.h"

namespace iss::ingest {

// What the status RPC reports about the source (feed client, replay, none).
struct SourceStatus {
  iss::ingest::v1::ConnectionState state = iss::ingest::v1::CONNECTION_STATE_DISCONNECTED;
  std::string session_id;  // a secret: never put in an answer
  std::string server;
  uint32_t subscribed_items = 0;
  uint64_t reconnects = 0;
  // What else the source tells (why it is not streaming, refusals, granted
  // frequencies): merged into the answer as is.
  iss::ingest::v1::IngestStatus detail;
};
using SourceStatusFn = std::function<SourceStatus()>;
// Events acknowledged by the broker so far.
using PublishedFn = std::function<uint64_t()>;

class IngestServiceImpl final : public iss::ingest::v1::IngestService::Service {
 public:
  IngestServiceImpl(Pipeline* pipeline, SourceStatusFn source_status, PublishedFn published)
      : pipeline_(pipeline),
        source_status_(std::move(source_status)),
        published_(std::move(published)) {}

  grpc::Status IngestTestEvent(grpc::ServerContext* ctx,
                               const iss::ingest::v1::IngestTestEventRequest* req,
                               iss::ingest::v1::IngestTestEventResponse* resp) override;
  grpc::Status GetIngestStatus(grpc::ServerContext* ctx,
                               const iss::ingest::v1::GetIngestStatusRequest* req,
                               iss::ingest::v1::IngestStatus* resp) override;

 private:
  Pipeline* const pipeline_;
  const SourceStatusFn source_status_;
  const PublishedFn published_;
};

// Maximum item ids one status request may name (keeps answers bounded).
inline constexpr int kMaxStatusItems = 1000;

// The largest request message the server takes (GrpcServerOptions::
// max_receive_bytes): GetIngestStatus naming kMaxStatusItems ids of 64 bytes
// is 66,000 bytes on the wire, IngestTestEvent a few KB. Anything bigger is
// refused RESOURCE_EXHAUSTED before it is parsed.
inline constexpr int kMaxRequestBytes = 128 << 10;

}  // namespace iss::ingest
