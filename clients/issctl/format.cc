#include "clients/issctl/format.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/catalog.h"
#include "common/grpc_util.h"
#include "google/protobuf/util/json_util.h"

namespace iss::issctl {
namespace {

namespace sv1 = iss::storage::v1;
namespace pv1 = iss::peebot::v1;
namespace iv1 = iss::ingest::v1;

// Aligned columns; the last column is never padded.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string Render() const {
    std::vector<size_t> width;
    for (const auto& r : rows_) {
      if (width.size() < r.size()) width.resize(r.size(), 0);
      for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    }
    std::string out;
    for (const auto& r : rows_) {
      std::string line;
      for (size_t i = 0; i < r.size(); ++i) {
        absl::StrAppend(&line, r[i]);
        if (i + 1 < r.size()) line.append(width[i] - r[i].size() + 2, ' ');
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      absl::StrAppend(&out, line, "\n");
    }
    return out;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string StripPrefix(const std::string& name, const std::string& prefix) {
  return absl::StartsWith(name, prefix) ? name.substr(prefix.size()) : name;
}

std::string Signal(iss::telemetry::v1::SignalState s) {
  return StripPrefix(iss::telemetry::v1::SignalState_Name(s), "SIGNAL_STATE_");
}

std::string Dur(const google::protobuf::Duration& d) {
  return absl::FormatDuration(iss::FromProto(d));
}

std::string Opt(bool has, const std::string& v) { return has ? v : "-"; }

// A value with what it means when the item is enumerated: "32 (STANDBY)".
std::string Labeled(bool has, const std::string& v, const std::string& label) {
  if (!has) return "-";
  return label.empty() ? v : absl::StrCat(v, " (", label, ")");
}

// Events carry no label: issctl ships the same catalog as the servers.
std::string EventValue(const iss::telemetry::v1::TelemetryEvent& e) {
  const std::string* label =
      e.has_value() ? Catalog::Embedded().LabelOf(e.item_id(), e.value()) : nullptr;
  return Labeled(e.has_value(), e.value(), label == nullptr ? "" : *label);
}

std::string Num(double v) { return absl::StrFormat("%.6g", v); }

// "key: value" lines with the values aligned.
std::string KeyValues(const std::vector<std::pair<std::string, std::string>>& kv) {
  size_t w = 0;
  for (const auto& [k, v] : kv) w = std::max(w, k.size());
  std::string out;
  for (const auto& [k, v] : kv) {
    absl::StrAppend(&out, k, ":", std::string(w - k.size() + 1, ' '), v, "\n");
  }
  return out;
}

std::string StatusText(const iss::telemetry::v1::ItemStatus& s) {
  std::vector<std::string> parts;
  if (s.has_class_()) parts.push_back(absl::StrCat("class=", s.class_()));
  if (s.has_indicator()) parts.push_back(absl::StrCat("ind=", s.indicator()));
  if (s.has_color()) parts.push_back(absl::StrCat("color=", s.color()));
  return parts.empty() ? "-" : absl::StrJoin(parts, ",");
}

}  // namespace

std::string FormatTs(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "-";
  return iss::FormatRfc3339Micros(iss::FromProto(ts));
}

std::string JsonLine(const google::protobuf::Message& msg) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(msg, &out, opts).ok()) {
    // Only a malformed message (e.g. an out-of-range Timestamp) gets here.
    out = absl::StrCat("{\"error\":\"cannot print ", msg.GetTypeName(), " as JSON\"}");
  }
  out.push_back('\n');
  return out;
}

std::string EventHeader() {
  return absl::StrFormat("%-27s  %-14s  %-20s  %-8s  %-10s  %s\n", "SOURCE_TS", "ITEM", "VALUE",
                         "SIGNAL", "SOURCE", "STATUS");
}

std::string EventRow(const iss::telemetry::v1::TelemetryEvent& e) {
  return absl::StrFormat("%-27s  %-14s  %-20s  %-8s  %-10s  %s\n", FormatTs(e.source_ts()),
                         e.item_id(), EventValue(e), Signal(e.signal()),
                         e.source().empty() ? "-" : e.source(), StatusText(e.status()));
}

std::string FormatLatest(const sv1::GetLatestResponse& r) {
  Table t({"ITEM", "VALUE", "SOURCE_TS", "STATUS"});
  for (const auto& v : r.values()) {
    t.Add({v.item_id(), Labeled(v.has_value(), v.value(), v.value_label()), FormatTs(v.source_ts()),
           StatusText(v.status())});
  }
  std::string out = t.Render();
  if (!r.missing_item_ids().empty()) {
    absl::StrAppend(&out, "no stored value: ", absl::StrJoin(r.missing_item_ids(), ", "), "\n");
  }
  return out;
}

std::string FormatSeries(const sv1::GetSeriesResponse& r) {
  std::string out = absl::StrCat("item ", r.item_id(), ", bucket ", Dur(r.bucket()), ", ",
                                 r.buckets_size(), " bucket(s) with data\n");
  Table t({"BUCKET_START", "COUNT", "MIN", "MAX", "AVG", "LAST"});
  for (const auto& b : r.buckets()) {
    t.Add({FormatTs(b.start_time()), absl::StrCat(b.count()), b.has_min() ? Num(b.min()) : "-",
           b.has_max() ? Num(b.max()) : "-", b.has_avg() ? Num(b.avg()) : "-",
           Opt(b.has_last(), b.last())});
  }
  return absl::StrCat(out, t.Render());
}

std::string FormatItems(const std::vector<sv1::Item>& items) {
  Table t({"ITEM", "DISCIPLINE", "UNITS", "LAST_VALUE", "LAST_SOURCE_TS", "UPD/MIN", "NAME"});
  for (const auto& i : items) {
    t.Add({i.item_id(), i.discipline().empty() ? "-" : i.discipline(),
           i.units().empty() ? "-" : i.units(),
           Labeled(i.has_last_value(), i.last_value(), i.last_value_label()),
           FormatTs(i.last_source_ts()), absl::StrFormat("%.2f", i.updates_per_minute()),
           i.name().empty() ? (i.in_catalog() ? "-" : "(not in catalog)") : i.name()});
  }
  return t.Render();
}

std::string FormatItem(const sv1::Item& i) {
  std::vector<std::string> values;
  for (const sv1::ValueLabel& l : i.value_labels()) {
    values.push_back(absl::StrCat(l.value(), "=", l.label()));
  }
  return KeyValues(
      {{"item", i.item_id()},
       {"name", i.name()},
       {"ops name", i.ops_name()},
       {"discipline", i.discipline()},
       {"units", i.units()},
       {"description", i.description()},
       {"in catalog", i.in_catalog() ? "yes" : "no"},
       {"values", values.empty() ? "-" : absl::StrJoin(values, ", ")},
       {"last value", Labeled(i.has_last_value(), i.last_value(), i.last_value_label())},
       {"last source ts", FormatTs(i.last_source_ts())},
       {"last seen", FormatTs(i.last_seen())},
       {"updates/min", absl::StrFormat("%.2f", i.updates_per_minute())},
       {"total updates", absl::StrCat(i.total_updates())}});
}

std::string FormatSinkStatus(const sv1::SinkStatus& s) {
  std::string out = KeyValues({{"consumer group", s.consumer_group()},
                               {"database", s.database_reachable() ? "reachable" : "UNREACHABLE"},
                               {"rows written", absl::StrCat(s.rows_written())},
                               {"batches committed", absl::StrCat(s.batches_committed())},
                               {"dead-lettered", absl::StrCat(s.dead_lettered())}});
  if (s.partitions_size() > 0) {
    Table t({"TOPIC", "PARTITION", "NEXT_OFFSET", "LAG"});
    for (const auto& p : s.partitions()) {
      t.Add({p.topic(), absl::StrCat(p.partition()), absl::StrCat(p.next_offset()),
             absl::StrCat(p.lag())});
    }
    absl::StrAppend(&out, "\n", t.Render());
  }
  return out;
}

std::string FormatPeebotStatus(const pv1::Status& s) {
  std::vector<std::pair<std::string, std::string>> kv = {
      {"mode", s.mode()},
      {"posting paused", s.posting_paused() ? "yes" : "no"},
      {"dry run", s.dry_run() ? "yes" : "no"},
      {"last level",
       s.has_last_level_percent()
           ? absl::StrCat(Num(s.last_level_percent()), " % at ", FormatTs(s.last_level_at()))
           : "-"},
      {"signal", Signal(s.signal())},
      {"cooldown remaining", Dur(s.cooldown_remaining())},
      {"posts today", absl::StrCat(s.posts_today(), " of ", s.daily_post_cap())},
      {"X API", s.x_api_health()},
      {"detections", absl::StrCat(s.detections_total())},
  };
  if (s.has_last_detection()) {
    const auto& d = s.last_detection();
    kv.push_back(
        {"last detection",
         absl::StrCat(FormatTs(d.start_time()), " ", d.item_id(), " +", Num(d.rise_percent()),
                      " % (~", Num(d.estimated_volume_ml()), " ml), ",
                      StripPrefix(pv1::PostStatus_Name(d.post_status()), "POST_STATUS_"))});
  } else {
    kv.push_back({"last detection", "-"});
  }
  return KeyValues(kv);
}

std::string FormatDetections(const std::vector<pv1::Detection>& detections) {
  Table t({"START", "ITEM", "RISE_%", "LEVEL_%", "VOLUME_ML", "POST", "POST_ID", "DETECTION_ID"});
  for (const auto& d : detections) {
    t.Add({FormatTs(d.start_time()), d.item_id(), Num(d.rise_percent()),
           absl::StrCat(Num(d.start_level_percent()), "->", Num(d.end_level_percent())),
           Num(d.estimated_volume_ml()),
           StripPrefix(pv1::PostStatus_Name(d.post_status()), "POST_STATUS_"),
           d.post_id().empty() ? "-" : d.post_id(), d.detection_id()});
  }
  return t.Render();
}

std::string FormatDestinations(const pv1::ListDestinationsResponse& r) {
  Table t({"DESTINATION", "HEALTH", "MODE", "POSTS_TODAY", "PENDING", "LAST_POST", "LAST_ERROR"});
  for (const auto& d : r.destinations()) {
    const std::string mode = d.paused()    ? absl::StrCat("paused: ", d.pause_reason())
                             : d.dry_run() ? "dry-run"
                                           : "live";
    t.Add({d.destination(), d.health(), mode,
           absl::StrCat(d.posts_today(), " of ", d.daily_post_cap()), absl::StrCat(d.pending()),
           d.has_last_post_at() ? FormatTs(d.last_post_at()) : "-",
           d.last_error().empty() ? "-" : d.last_error()});
  }
  return t.Render();
}

std::string FormatTestPost(const pv1::PostTestMessageResponse& r) {
  return KeyValues({{"destination", r.destination()},
                    {"outcome", r.outcome()},
                    {"text", r.text()},
                    {"post id", r.post_id().empty() ? "-" : r.post_id()},
                    {"error", r.error().empty() ? "-" : r.error()}});
}

std::string FormatCooldown(const pv1::Settings& settings, const pv1::Status* status) {
  std::vector<std::pair<std::string, std::string>> kv = {{"cooldown", Dur(settings.cooldown())}};
  if (status != nullptr) kv.push_back({"remaining", Dur(status->cooldown_remaining())});
  return KeyValues(kv);
}

std::string CooldownJson(const pv1::Settings& settings, const pv1::Status& status) {
  // Settings has no field for the time left, so the key is spliced into its
  // object; the value is the proto3 JSON of the Duration itself ("240s").
  std::string remaining = JsonLine(status.cooldown_remaining());
  remaining.pop_back();  // "\n"
  std::string out = JsonLine(settings);
  const size_t close = out.rfind('}');
  const bool empty = out.find_first_not_of(" {", 0) == close;
  out.insert(close, absl::StrCat(empty ? "" : ",", "\"cooldownRemaining\":", remaining));
  return out;
}

// The feed's state in words: "streaming", "unreachable (connect: ...)",
// "refused by the server: CONERR 2 ...", "circuit open until ...".
std::string SourceState(const iv1::IngestStatus& s) {
  std::string state = absl::AsciiStrToLower(
      StripPrefix(iv1::ConnectionState_Name(s.connection_state()), "CONNECTION_STATE_"));
  absl::StrReplaceAll({{"_", " "}}, &state);
  if (s.connection_state() == iv1::CONNECTION_STATE_CONNECTED) return "streaming";
  if (s.connection_state() == iv1::CONNECTION_STATE_REFUSED) {
    state = absl::StrCat(
        "refused by the server: code ", s.refusal_code(),
        s.refusal_message().empty() ? "" : absl::StrCat(" \"", s.refusal_message(), "\""));
  } else if (!s.state_reason().empty()) {
    absl::StrAppend(&state, " (", s.state_reason(), ")");
  }
  if (s.has_next_attempt_at())
    absl::StrAppend(&state, "; next attempt ", FormatTs(s.next_attempt_at()));
  return state;
}

std::string FormatIngestStatus(const iv1::IngestStatus& s) {
  std::vector<std::string> grants;
  for (const auto& g : s.frequency_grants()) {
    grants.push_back(absl::StrCat(g.max_frequency(), g.filtered() ? "" : " unfiltered", " (",
                                  g.items(), " items)"));
  }
  std::string out = KeyValues({
      {"source", SourceState(s)},
      {"server", s.server().empty() ? "-" : s.server()},
      {"control link", s.control_link().empty() ? "-" : s.control_link()},
      {"granted frequency", grants.empty() ? "-" : absl::StrJoin(grants, ", ")},
      {"refused items", absl::StrCat(s.refused_items_size())},
      {"session fingerprint", s.session_fingerprint().empty() ? "-" : s.session_fingerprint()},
      {"subscribed items", absl::StrCat(s.subscribed_items())},
      {"signal", absl::StrCat(Signal(s.signal()), " since ", FormatTs(s.signal_since()))},
      {"queue", absl::StrCat(s.queue_depth(), " / ", s.queue_capacity())},
      {"updates received", absl::StrCat(s.updates_received())},
      {"events published", absl::StrCat(s.events_published())},
      {"events invalid", absl::StrCat(s.events_invalid())},
      {"reconnects", absl::StrCat(s.reconnects())},
      {"last update", FormatTs(s.last_update_at())},
  });
  if (!s.hint().empty()) absl::StrAppend(&out, "\nhint: ", s.hint(), "\n");
  if (s.refused_items_size() > 0) {
    Table t({"REFUSED_ITEM", "CODE", "MESSAGE", "SINCE", "RETRY_AT"});
    for (const auto& r : s.refused_items()) {
      t.Add({r.item_id(), absl::StrCat(r.code()), r.message().empty() ? "-" : r.message(),
             FormatTs(r.since()), FormatTs(r.retry_at())});
    }
    absl::StrAppend(&out, "\n", t.Render());
  }
  if (s.items_size() > 0) {
    Table t({"ITEM", "LAST_VALUE", "LAST_SOURCE_TS", "LAST_RECEIVED", "UPDATES"});
    for (const auto& i : s.items()) {
      t.Add({i.item_id(), Opt(i.has_last_value(), i.last_value()), FormatTs(i.last_source_ts()),
             FormatTs(i.last_received_at()), absl::StrCat(i.updates())});
    }
    absl::StrAppend(&out, "\n", t.Render());
  }
  return out;
}

std::string FormatIngestSent(const iv1::IngestTestEventResponse& r) {
  return absl::StrCat(r.status().empty() ? "accepted" : r.status(), ": event_id ", r.event_id(),
                      "\n");
}

std::string FormatExportProgress(uint64_t events, double fraction, absl::Time at) {
  constexpr int kWidth = 20;
  fraction = std::clamp(fraction, 0.0, 1.0);
  const int filled = static_cast<int>(fraction * kWidth);
  return absl::StrFormat(
      "export [%s%s] %3d%% %d events, at %s", std::string(filled, '#'),
      std::string(kWidth - filled, '.'), static_cast<int>(fraction * 100), events,
      at == absl::InfinitePast() ? "-"
                                 : absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", at, absl::UTCTimeZone()));
}

std::string FormatProgress(uint64_t events, absl::Duration elapsed, const std::string& last_item) {
  const double secs = absl::ToDoubleSeconds(elapsed);
  const double rate = secs > 0 ? static_cast<double>(events) / secs : 0.0;
  return absl::StrFormat("tail: %d events, %.1f/s, last %s (%s)", events, rate,
                         last_item.empty() ? "-" : last_item,
                         absl::FormatDuration(absl::Trunc(elapsed, absl::Seconds(1))));
}

}  // namespace iss::issctl
