#include "services/peebot/admin_service.h"

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_server.h"
#include "common/grpc_util.h"
#include "common/log.h"

namespace iss::peebot {
namespace {

// The detector needs a settled level before the window: this much history
// before `start` is replayed too (its detections are not reported).
constexpr absl::Duration kWarmUp = absl::Minutes(10);

#define ISS_ADMIN_ONLY(ctx)                                            \
  if (absl::Status auth_ = iss::AuthorizeAdmin(*(ctx)); !auth_.ok()) { \
    return iss::ToGrpc(auth_);                                         \
  }

void ToProto(const Detection& d, v1::Detection* out) {
  out->set_detection_id(d.detection_id);
  out->set_item_id(d.item_id);
  iss::ToProto(d.start_time, out->mutable_start_time());
  iss::ToProto(d.end_time, out->mutable_end_time());
  out->set_start_level_percent(d.start_level);
  out->set_end_level_percent(d.end_level);
  out->set_rise_percent(d.rise);
  out->set_estimated_volume_ml(d.volume_ml);
}

}  // namespace

v1::ReevaluateResponse Reevaluate(const std::vector<Sample>& samples, absl::Time start,
                                  absl::Time end, const PeeBotSettings& s,
                                  const std::vector<std::string>& tank_items,
                                  const PostComposer& composer, bool dry_run,
                                  absl::Duration max_sample_lag) {
  DetectorConfig config;
  config.max_sample_lag = max_sample_lag;
  config.min_rise_percent = s.min_rise_percent;
  config.max_step_gap = s.max_step_gap;
  config.ml_per_percent = s.ml_per_percent;
  config.tank_items = tank_items;
  Detector detector(config);
  std::vector<Detection> found;
  for (const Sample& smp : samples) detector.Add(smp, &found);
  detector.Drain(&found);

  v1::ReevaluateResponse res;
  res.set_events_replayed(samples.size());
  std::optional<absl::Time> last_post;
  std::string last_text;
  int joke = 0, posts_in_day = 0, folded = 0;
  int64_t day = INT64_MIN;
  for (const Detection& d : found) {
    if (d.start_time < start || d.start_time >= end) continue;
    v1::Detection* out = res.add_detections();
    ToProto(d, out);
    const int64_t d_day = absl::ToUnixSeconds(d.start_time) / 86400;
    if (d_day != day) {
      day = d_day;
      posts_in_day = 0;
    }
    if (s.paused) {
      out->set_post_status(v1::POST_STATUS_PAUSED);
    } else if (last_post && d.start_time - *last_post < s.cooldown) {
      out->set_post_status(v1::POST_STATUS_COOLDOWN);
      ++folded;
    } else if (posts_in_day >= static_cast<int>(s.daily_post_cap)) {
      out->set_post_status(v1::POST_STATUS_DAILY_CAP);
    } else {
      const auto text = composer.Compose(d, folded, joke, last_text);
      out->set_post_status(dry_run ? v1::POST_STATUS_DRY_RUN : v1::POST_STATUS_POSTED);
      out->set_post_text(text.text);
      res.add_would_post(text.text);
      last_text = text.text;
      joke = text.joke_index + 1;
      last_post = d.start_time;
      folded = 0;
      ++posts_in_day;
    }
  }
  return res;
}

absl::Status AdminService::FillStatus(v1::Status* out) {
  const PeeBotSettings s = d_.settings->Get();
  const bool dry_run = d_.settings->EffectiveDryRun();
  out->set_mode(s.paused ? "paused" : dry_run ? "dry-run" : "live");
  out->set_posting_paused(s.paused);
  out->set_dry_run(dry_run);
  out->set_daily_post_cap(s.daily_post_cap);
  if (d_.view) {
    const Pipeline::View v = d_.view();
    if (v.last_level) {
      out->set_last_level_percent(v.last_level->percent);
      iss::ToProto(v.last_level->at, out->mutable_last_level_at());
    }
    out->set_signal(v.signal);
  }
  auto latest = d_.store->Latest();
  if (!latest.ok()) return latest.status();
  if (*latest) *out->mutable_last_detection() = **latest;
  auto count = d_.store->CountDetections();
  if (!count.ok()) return count.status();
  out->set_detections_total(static_cast<uint64_t>(*count));
  if (d_.poster) {
    auto stats = d_.poster->Stats();
    if (!stats.ok()) return stats.status();
    out->set_posts_today(static_cast<uint32_t>(stats->posts_today));
    auto remaining = d_.poster->CooldownRemaining();
    if (!remaining.ok()) return remaining.status();
    *out->mutable_cooldown_remaining() = iss::ToProtoDuration(*remaining);
    out->set_x_api_health(d_.poster->XHealth());
  } else {
    out->set_x_api_health("unconfigured");
  }
  return FillDestinations(out->mutable_destinations());
}

absl::StatusOr<v1::DestinationStatus> AdminService::XStatus() {
  v1::DestinationStatus st;
  st.set_destination(kDestinationX);
  const PeeBotSettings s = d_.settings->Get();
  st.set_daily_post_cap(s.daily_post_cap);
  auto pauses = d_.store->DestinationPauses();
  if (!pauses.ok()) return pauses.status();
  if (auto it = pauses->find(kDestinationX); it != pauses->end()) {
    st.set_paused(true);
    st.set_pause_reason(it->second);
  }
  if (d_.poster == nullptr) {
    st.set_dry_run(true);
    st.set_health("unconfigured");
    return st;
  }
  st.set_health(d_.poster->XHealth());
  auto stats = d_.poster->Stats();
  if (!stats.ok()) return stats.status();
  st.set_posts_today(static_cast<uint32_t>(stats->posts_today));
  if (stats->last_post_at) iss::ToProto(*stats->last_post_at, st.mutable_last_post_at());
  st.set_dry_run(d_.poster->EffectiveDryRun());
  return st;
}

absl::Status AdminService::FillDestinations(
    google::protobuf::RepeatedPtrField<v1::DestinationStatus>* out) {
  if (d_.x_configured) {
    auto x = XStatus();
    if (!x.ok()) return x.status();
    *out->Add() = *std::move(x);
  }
  for (DestinationPoster* p : d_.destinations) {
    auto st = p->Status();
    if (!st.ok()) return st.status();
    *out->Add() = *std::move(st);
  }
  return absl::OkStatus();
}

absl::StatusOr<DestinationPoster*> AdminService::Find(const std::string& destination, bool* is_x) {
  *is_x = false;
  if (destination != kDestinationX && destination != kDestinationBluesky &&
      destination != kDestinationMastodon && destination != kDestinationWebhook) {
    return absl::InvalidArgumentError(absl::StrCat(
        "destination: \"", destination, "\" is not one of x, bluesky, mastodon, webhook"));
  }
  if (destination == kDestinationX && d_.x_configured) {
    *is_x = true;
    return nullptr;
  }
  for (DestinationPoster* p : d_.destinations) {
    if (p->name() == destination) return p;
  }
  return absl::FailedPreconditionError(
      absl::StrCat("destination: ", destination, " is not configured (ISS_PEEBOT_DESTINATIONS)"));
}

absl::StatusOr<v1::DestinationStatus> AdminService::StatusOf(const std::string& destination) {
  bool is_x = false;
  auto p = Find(destination, &is_x);
  if (!p.ok()) return p.status();
  if (is_x) return XStatus();
  return (*p)->Status();
}

grpc::Status AdminService::ListDestinations(grpc::ServerContext*,
                                            const v1::ListDestinationsRequest*,
                                            v1::ListDestinationsResponse* out) {
  return iss::ToGrpc(FillDestinations(out->mutable_destinations()));
}

grpc::Status AdminService::PauseDestination(grpc::ServerContext* ctx,
                                            const v1::PauseDestinationRequest* req,
                                            v1::DestinationStatus* out) {
  ISS_ADMIN_ONLY(ctx);
  if (req->reason().size() > 1000) {
    return iss::ToGrpc(absl::InvalidArgumentError("reason: at most 1000 bytes"));
  }
  bool is_x = false;
  if (auto p = Find(req->destination(), &is_x); !p.ok()) return iss::ToGrpc(p.status());
  if (absl::Status s = d_.store->SetDestinationPaused(req->destination(), true, req->reason());
      !s.ok()) {
    return iss::ToGrpc(s);
  }
  iss::log::Info("destination paused",
                 {{"destination", req->destination()}, {"reason", req->reason()}});
  if (d_.on_settings_changed) d_.on_settings_changed();
  auto st = StatusOf(req->destination());
  if (!st.ok()) return iss::ToGrpc(st.status());
  *out = *std::move(st);
  return grpc::Status::OK;
}

grpc::Status AdminService::ResumeDestination(grpc::ServerContext* ctx,
                                             const v1::ResumeDestinationRequest* req,
                                             v1::DestinationStatus* out) {
  ISS_ADMIN_ONLY(ctx);
  bool is_x = false;
  if (auto p = Find(req->destination(), &is_x); !p.ok()) return iss::ToGrpc(p.status());
  if (absl::Status s = d_.store->SetDestinationPaused(req->destination(), false, ""); !s.ok()) {
    return iss::ToGrpc(s);
  }
  iss::log::Info("destination resumed", {{"destination", req->destination()}});
  if (d_.on_settings_changed) d_.on_settings_changed();
  auto st = StatusOf(req->destination());
  if (!st.ok()) return iss::ToGrpc(st.status());
  *out = *std::move(st);
  return grpc::Status::OK;
}

grpc::Status AdminService::GetStatus(grpc::ServerContext*, const v1::GetStatusRequest*,
                                     v1::Status* out) {
  return iss::ToGrpc(FillStatus(out));
}

grpc::Status AdminService::ListDetections(grpc::ServerContext*,
                                          const v1::ListDetectionsRequest* req,
                                          v1::ListDetectionsResponse* out) {
  if (req->page_size() < 0 || req->page_size() > 500) {
    return iss::ToGrpc(absl::InvalidArgumentError(
        absl::StrCat("page_size: must be 0..500 (0 = 50), got ", req->page_size())));
  }
  // Out-of-range times would overflow the microsecond arithmetic in SQL.
  if (req->has_start_time() && !iss::IsRfc3339Timestamp(req->start_time())) {
    return iss::ToGrpc(absl::InvalidArgumentError("start_time: out of range"));
  }
  if (req->has_end_time() && !iss::IsRfc3339Timestamp(req->end_time())) {
    return iss::ToGrpc(absl::InvalidArgumentError("end_time: out of range"));
  }
  std::optional<absl::Time> start, end;
  if (req->has_start_time()) start = iss::FromProto(req->start_time());
  if (req->has_end_time()) end = iss::FromProto(req->end_time());
  if (start && end && *end <= *start) {
    return iss::ToGrpc(absl::InvalidArgumentError("end_time: must be after start_time"));
  }
  auto page =
      d_.store->List(start, end, req->page_size() == 0 ? 50 : req->page_size(), req->page_token());
  if (!page.ok()) return iss::ToGrpc(page.status());
  for (auto& d : page->first) *out->add_detections() = std::move(d);
  out->set_next_page_token(page->second);
  return grpc::Status::OK;
}

absl::Status AdminService::SetPaused(bool paused, const std::string& reason) {
  absl::MutexLock lock(&write_mu_);
  PeeBotSettings s = d_.settings->Get();
  s.paused = paused;
  s.pause_reason = paused ? reason : "";
  if (absl::Status st = d_.store->SaveSettings(ToJson(s)); !st.ok()) return st;
  d_.settings->Set(s);
  iss::log::Info(paused ? "posting paused" : "posting resumed", {{"reason", reason}});
  if (d_.on_settings_changed) d_.on_settings_changed();
  return absl::OkStatus();
}

grpc::Status AdminService::PausePosting(grpc::ServerContext* ctx,
                                        const v1::PausePostingRequest* req, v1::Status* out) {
  ISS_ADMIN_ONLY(ctx);
  if (req->reason().size() > 1000) {
    return iss::ToGrpc(absl::InvalidArgumentError("reason: at most 1000 bytes"));
  }
  if (absl::Status s = SetPaused(true, req->reason()); !s.ok()) return iss::ToGrpc(s);
  return iss::ToGrpc(FillStatus(out));
}

grpc::Status AdminService::ResumePosting(grpc::ServerContext* ctx, const v1::ResumePostingRequest*,
                                         v1::Status* out) {
  ISS_ADMIN_ONLY(ctx);
  if (absl::Status s = SetPaused(false, ""); !s.ok()) return iss::ToGrpc(s);
  return iss::ToGrpc(FillStatus(out));
}

grpc::Status AdminService::GetSettings(grpc::ServerContext*, const v1::GetSettingsRequest*,
                                       v1::Settings* out) {
  *out = ToProto(d_.settings->Get());
  out->set_dry_run(d_.settings->EffectiveDryRun());
  return grpc::Status::OK;
}

grpc::Status AdminService::UpdateSettings(grpc::ServerContext* ctx,
                                          const v1::UpdateSettingsRequest* req, v1::Settings* out) {
  ISS_ADMIN_ONLY(ctx);
  absl::MutexLock lock(&write_mu_);
  auto next = ApplyUpdate(d_.settings->Get(), req->settings(), req->update_mask());
  if (!next.ok()) return iss::ToGrpc(next.status());
  // Refuse only a request that itself turns dry-run off: without credentials
  // dry-run is forced anyway, and other fields (the cooldown, thresholds) must
  // stay adjustable while the stored flag says false (the default).
  const bool turns_dry_run_off =
      !next->dry_run &&
      (d_.settings->Get().dry_run || absl::c_linear_search(req->update_mask().paths(), "dry_run"));
  if (turns_dry_run_off && !d_.settings->credentials_configured()) {
    return iss::ToGrpc(absl::FailedPreconditionError(
        "settings.dry_run: cannot turn dry-run off: no X credentials configured"));
  }
  if (absl::Status s = d_.store->SaveSettings(ToJson(*next)); !s.ok()) return iss::ToGrpc(s);
  d_.settings->Set(*next);
  iss::log::Info("settings updated", {{"settings", ToJson(*next)}});
  if (d_.on_settings_changed) d_.on_settings_changed();
  *out = ToProto(*next);
  out->set_dry_run(d_.settings->EffectiveDryRun());
  return grpc::Status::OK;
}

grpc::Status AdminService::PostTestMessage(grpc::ServerContext* ctx,
                                           const v1::PostTestMessageRequest* req,
                                           v1::PostTestMessageResponse* out) {
  ISS_ADMIN_ONLY(ctx);
  const std::string destination = req->destination().empty() ? "x" : req->destination();
  bool is_x = false;
  auto target = Find(destination, &is_x);
  if (!target.ok()) return iss::ToGrpc(target.status());
  if (is_x && d_.poster == nullptr) {
    return iss::ToGrpc(absl::FailedPreconditionError("posting is not running"));
  }
  out->set_destination(destination);
  auto r = is_x ? d_.poster->PostTest(req->text(), req->force())
                : (*target)->PostTest(req->text(), req->force());
  if (!r.ok()) return iss::ToGrpc(r.status());
  out->set_outcome(r->outcome);
  out->set_text(r->text);
  out->set_post_id(r->post_id);
  out->set_error(r->error);
  return grpc::Status::OK;
}

grpc::Status AdminService::Reevaluate(grpc::ServerContext* ctx, const v1::ReevaluateRequest* req,
                                      v1::ReevaluateResponse* out) {
  ISS_ADMIN_ONLY(ctx);
  if (!req->has_start_time() || !req->has_end_time()) {
    return iss::ToGrpc(absl::InvalidArgumentError("start_time and end_time: both are required"));
  }
  if (!iss::IsRfc3339Timestamp(req->start_time())) {
    return iss::ToGrpc(absl::InvalidArgumentError("start_time: out of range"));
  }
  if (!iss::IsRfc3339Timestamp(req->end_time())) {
    return iss::ToGrpc(absl::InvalidArgumentError("end_time: out of range"));
  }
  const absl::Time start = iss::FromProto(req->start_time());
  const absl::Time end = iss::FromProto(req->end_time());
  if (end <= start) {
    return iss::ToGrpc(absl::InvalidArgumentError("end_time: must be after start_time"));
  }
  if (end - start > d_.max_reevaluate_window) {
    return iss::ToGrpc(absl::InvalidArgumentError(absl::StrCat(
        "end_time: window longer than ", absl::FormatDuration(d_.max_reevaluate_window))));
  }
  PeeBotSettings s = d_.settings->Get();
  if (req->has_settings()) {
    auto tried = ApplyUpdate(s, req->settings(), {});
    if (!tried.ok()) return iss::ToGrpc(tried.status());
    s = *tried;
  }
  auto samples = d_.store->Samples(start - kWarmUp, end + s.max_step_gap * 2);
  if (!samples.ok()) return iss::ToGrpc(samples.status());
  *out = iss::peebot::Reevaluate(*samples, start, end, s, d_.tank_items, PostComposer(),
                                 d_.settings->EffectiveDryRun(), d_.max_sample_lag);
  return grpc::Status::OK;
}

}  // namespace iss::peebot
