// Owns: the iss.peebot.v1.PeeBotService gRPC API: status, detections,
// pause/resume, settings, test posts and re-evaluation of a past window.
// Admin RPCs check the bearer token first (iss::AuthorizeAdmin); the common
// server's interceptor is the safety net. Handlers return statuses, never throw.
//
// Reevaluate reads the samples Pee-Bot stored itself (peebot_samples, written
// in the same transaction as the detections) rather than the storage
// service's telemetry table or Kafka: no coupling to another service's schema
// or retention, no consumer to seek by time, and it holds exactly what the
// live detector saw.
#pragma once

#include <functional>

#include "iss/peebot/v1/peebot.grpc.pb.h"
#include "services/peebot/destinations.h"
#include "services/peebot/pipeline.h"
#include "services/peebot/poster.h"
#include "services/peebot/settings.h"
#include "services/peebot/store.h"

namespace iss::peebot {

// Pure: replays `samples` through a fresh detector with `settings` and plans
// the posts under cooldown and daily cap (event time). Detections starting
// outside [start, end) are dropped (the samples before `start` only warm up
// the detector).
// `max_sample_lag` is the live detector's (DetectorConfig): the samples carry
// their receive times, so a window is judged as it was live.
v1::ReevaluateResponse Reevaluate(const std::vector<Sample>& samples, absl::Time start,
                                  absl::Time end, const PeeBotSettings& settings,
                                  const std::vector<std::string>& tank_items,
                                  const PostComposer& composer, bool dry_run,
                                  absl::Duration max_sample_lag = DetectorConfig().max_sample_lag);

// The largest request message the server takes (GrpcServerOptions::
// max_receive_bytes): the longest legitimate ones are a PausePosting reason
// (at most 1000 bytes) and a PostTestMessage text (280 characters, at most
// 1120 bytes); anything bigger is refused RESOURCE_EXHAUSTED before parsing.
inline constexpr int kMaxRequestBytes = 16 << 10;

class AdminService final : public v1::PeeBotService::Service {
 public:
  struct Deps {
    Store* store = nullptr;  // its own connection
    RuntimeSettings* settings = nullptr;
    Poster* poster = nullptr;                      // X's
    bool x_configured = true;                      // "x" is among the destinations
    std::vector<DestinationPoster*> destinations;  // the others
    std::function<Pipeline::View()> view;          // live observations; may be empty
    std::function<void()> on_settings_changed;     // e.g. wake the poster
    std::vector<std::string> tank_items = {"NODE3000005"};
    absl::Duration max_sample_lag = DetectorConfig().max_sample_lag;  // the live detector's
    absl::Duration max_reevaluate_window = absl::Hours(24 * 7);
  };
  explicit AdminService(Deps deps) : d_(std::move(deps)) {}

  grpc::Status GetStatus(grpc::ServerContext*, const v1::GetStatusRequest*, v1::Status*) override;
  grpc::Status ListDetections(grpc::ServerContext*, const v1::ListDetectionsRequest*,
                              v1::ListDetectionsResponse*) override;
  grpc::Status PausePosting(grpc::ServerContext*, const v1::PausePostingRequest*,
                            v1::Status*) override;
  grpc::Status ResumePosting(grpc::ServerContext*, const v1::ResumePostingRequest*,
                             v1::Status*) override;
  grpc::Status GetSettings(grpc::ServerContext*, const v1::GetSettingsRequest*,
                           v1::Settings*) override;
  grpc::Status UpdateSettings(grpc::ServerContext*, const v1::UpdateSettingsRequest*,
                              v1::Settings*) override;
  grpc::Status PostTestMessage(grpc::ServerContext*, const v1::PostTestMessageRequest*,
                               v1::PostTestMessageResponse*) override;
  grpc::Status Reevaluate(grpc::ServerContext*, const v1::ReevaluateRequest*,
                          v1::ReevaluateResponse*) override;
  grpc::Status ListDestinations(grpc::ServerContext*, const v1::ListDestinationsRequest*,
                                v1::ListDestinationsResponse*) override;
  grpc::Status PauseDestination(grpc::ServerContext*, const v1::PauseDestinationRequest*,
                                v1::DestinationStatus*) override;
  grpc::Status ResumeDestination(grpc::ServerContext*, const v1::ResumeDestinationRequest*,
                                 v1::DestinationStatus*) override;

 private:
  absl::Status FillStatus(v1::Status* out);
  absl::Status SetPaused(bool paused, const std::string& reason);
  absl::StatusOr<v1::DestinationStatus> XStatus();
  // Every configured destination, X first.
  absl::Status FillDestinations(google::protobuf::RepeatedPtrField<v1::DestinationStatus>* out);
  // INVALID_ARGUMENT for a name that is no destination, FAILED_PRECONDITION
  // for one not configured; nullptr with OK = X.
  absl::StatusOr<DestinationPoster*> Find(const std::string& destination, bool* is_x);
  absl::StatusOr<v1::DestinationStatus> StatusOf(const std::string& destination);
  Deps d_;
  absl::Mutex write_mu_;  // serialises read-modify-write of the settings
};

}  // namespace iss::peebot
