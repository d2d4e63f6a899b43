// issctl's output: proto3 JSON lines that parse back, and the text forms.
#include "clients/issctl/format.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/grpc_util.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace iss::issctl {
namespace {

using iss::telemetry::v1::TelemetryEvent;

TelemetryEvent Event() {
  TelemetryEvent e;
  e.set_schema_version(1);
  e.set_event_id("abc123");
  e.set_item_id("NODE3000005");
  iss::ToProto(absl::FromUnixSeconds(1735732800) + absl::Microseconds(250), e.mutable_source_ts());
  e.set_value("42.5");
  e.mutable_status()->set_class_("24");
  e.set_source("test");
  e.set_signal(iss::telemetry::v1::SIGNAL_STATE_AOS);
  return e;
}

TEST(Format, JsonLineIsOneLineOfProto3JsonThatParsesBack) {
  const std::string line = JsonLine(Event());
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_TRUE(absl::StrContains(line, "\"itemId\":\"NODE3000005\"")) << line;
  EXPECT_TRUE(absl::StrContains(line, "\"sourceTs\":\"2025-01-01T12:00:00.000250Z\"")) << line;
  EXPECT_TRUE(absl::StrContains(line, "\"signal\":\"SIGNAL_STATE_AOS\"")) << line;
  TelemetryEvent back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &back).ok());
  EXPECT_EQ(back.SerializeAsString(), Event().SerializeAsString());
}

TEST(Format, EventRowsAlignUnderTheHeader) {
  const std::string header = EventHeader();
  const std::string row = EventRow(Event());
  EXPECT_EQ(row.find("NODE3000005"), header.find("ITEM"));
  EXPECT_EQ(row.find("42.5"), header.find("VALUE"));
  EXPECT_TRUE(absl::StartsWith(row, "2025-01-01T12:00:00.000250Z")) << row;
  EXPECT_TRUE(absl::StrContains(row, "AOS")) << row;
  EXPECT_TRUE(absl::StrContains(row, "class=24")) << row;
  TelemetryEvent null_value = Event();
  null_value.clear_value();
  EXPECT_EQ(EventRow(null_value).substr(header.find("VALUE"), 2), "- ");
}

TEST(Format, LatestListsMissingItems) {
  iss::storage::v1::GetLatestResponse r;
  auto* v = r.add_values();
  v->set_item_id("S0000004");
  v->set_value("7");
  r.add_missing_item_ids("NOPE1");
  r.add_missing_item_ids("NOPE2");
  const std::string text = FormatLatest(r);
  const std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << text;
  EXPECT_TRUE(absl::StartsWith(lines[0], "ITEM")) << text;
  EXPECT_TRUE(absl::StartsWith(lines[1], "S0000004")) << text;
  EXPECT_EQ(lines[2], "no stored value: NOPE1, NOPE2");
}

TEST(Format, EnumeratedValuesShowTheirLabel) {
  iss::storage::v1::GetLatestResponse r;
  auto* v = r.add_values();
  v->set_item_id("NODE3000004");
  v->set_value("32");
  v->set_value_label("STANDBY");
  EXPECT_TRUE(absl::StrContains(FormatLatest(r), "32 (STANDBY)")) << FormatLatest(r);

  iss::storage::v1::Item item;
  item.set_item_id("NODE3000004");
  item.set_last_value("16");
  item.set_last_value_label("NORMAL");
  for (auto [value, label] : {std::pair{"16", "NORMAL"}, std::pair{"32", "STANDBY"}}) {
    auto* l = item.add_value_labels();
    l->set_value(value);
    l->set_label(label);
  }
  const std::string one = FormatItem(item);
  EXPECT_TRUE(absl::StrContains(one, "16 (NORMAL)")) << one;
  EXPECT_TRUE(absl::StrContains(one, "16=NORMAL, 32=STANDBY")) << one;
  EXPECT_TRUE(absl::StrContains(FormatItems({item}), "16 (NORMAL)")) << FormatItems({item});

  // Tail and query rows: the label from the catalog issctl ships with.
  TelemetryEvent e = Event();
  e.set_item_id("NODE3000004");
  e.set_value("32");
  EXPECT_TRUE(absl::StrContains(EventRow(e), "32 (STANDBY)")) << EventRow(e);
  e.set_item_id("NODE3000005");
  EXPECT_FALSE(absl::StrContains(EventRow(e), "(")) << EventRow(e);
}

// The feed's state told plainly: what is wrong and what to do.
TEST(Format, IngestStatusTellsTheSourceStatePlainly) {
  iss::ingest::v1::IngestStatus s;
  s.set_connection_state(iss::ingest::v1::CONNECTION_STATE_REFUSED);
  s.set_refusal_code(2);
  s.set_refusal_message("Requested Adapter Set not available");
  s.set_state_reason("CONERR 2: Requested Adapter Set not available");
  *s.mutable_next_attempt_at() = iss::ToProto(absl::FromUnixSeconds(1800000000));
  s.set_hint("check ISS_LS_ADAPTER_SET");
  auto* r = s.add_refused_items();
  r->set_item_id("CSASSRMS001");
  r->set_code(21);
  r->set_message("Bad Group name");
  auto* g = s.add_frequency_grants();
  g->set_max_frequency("unlimited");
  g->set_items(336);
  g->set_filtered(true);
  const std::string text = FormatIngestStatus(s);
  EXPECT_TRUE(absl::StrContains(
      text,
      "refused by the server: code 2 \"Requested Adapter Set not available\"; next attempt "
      "2027-01-15T08:00:00.000000Z"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "hint: check ISS_LS_ADAPTER_SET")) << text;
  EXPECT_TRUE(absl::StrContains(text, "granted frequency:")) << text;
  EXPECT_TRUE(absl::StrContains(text, "unlimited (336 items)")) << text;
  EXPECT_TRUE(absl::StrContains(text, "CSASSRMS001")) << text;
  EXPECT_TRUE(absl::StrContains(text, "Bad Group name")) << text;

  s.Clear();
  s.set_connection_state(iss::ingest::v1::CONNECTION_STATE_UNREACHABLE);
  s.set_state_reason("connect: resolve push.lightstreamer.com: Host not found");
  EXPECT_TRUE(
      absl::StrContains(FormatIngestStatus(s),
                        "unreachable (connect: resolve push.lightstreamer.com: Host not found)"))
      << FormatIngestStatus(s);
}

TEST(Format, PeebotStatusAndCooldown) {
  iss::peebot::v1::Status s;
  s.set_mode("paused");
  s.set_posting_paused(true);
  s.set_posts_today(3);
  s.set_daily_post_cap(17);
  *s.mutable_cooldown_remaining() = iss::ToProtoDuration(absl::Minutes(4));
  const std::string text = FormatPeebotStatus(s);
  EXPECT_TRUE(absl::StrContains(text, "mode:")) << text;
  EXPECT_TRUE(absl::StrContains(text, "paused")) << text;
  EXPECT_TRUE(absl::StrContains(text, "3 of 17")) << text;
  EXPECT_TRUE(absl::StrContains(text, "last detection:     -")) << text;
  iss::peebot::v1::Settings settings;
  *settings.mutable_cooldown() = iss::ToProtoDuration(absl::Minutes(15));
  EXPECT_EQ(FormatCooldown(settings, &s), "cooldown:  15m\nremaining: 4m\n");
  EXPECT_EQ(FormatCooldown(settings, nullptr), "cooldown: 15m\n");
}

// The JSON of `peebot cooldown` carries the time left (from Status) next to
// every Settings field, and still parses as Settings.
TEST(Format, CooldownJsonHasTheRemainingTime) {
  iss::peebot::v1::Settings settings;
  *settings.mutable_cooldown() = iss::ToProtoDuration(absl::Minutes(15));
  settings.set_daily_post_cap(17);
  iss::peebot::v1::Status status;
  *status.mutable_cooldown_remaining() = iss::ToProtoDuration(absl::Seconds(241.5));
  const std::string json = CooldownJson(settings, status);
  ASSERT_TRUE(absl::EndsWith(json, "}\n")) << json;
  EXPECT_EQ(json.find('\n'), json.size() - 1) << json;
  EXPECT_TRUE(absl::StrContains(json, "\"cooldownRemaining\":\"241.500s\"")) << json;
  EXPECT_TRUE(absl::StrContains(json, "\"cooldown\":\"900s\"")) << json;

  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
  EXPECT_EQ(parsed.fields().at("cooldownRemaining").string_value(), "241.500s");
  EXPECT_EQ(parsed.fields().at("dailyPostCap").number_value(), 17);
  google::protobuf::util::JsonParseOptions lenient;
  lenient.ignore_unknown_fields = true;
  iss::peebot::v1::Settings back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back, lenient).ok()) << json;
  EXPECT_EQ(iss::FromProto(back.cooldown()), absl::Minutes(15));

  // A cooldown that has run out is still printed, as the text form does.
  EXPECT_TRUE(absl::StrContains(CooldownJson(settings, {}), "\"cooldownRemaining\":\"0s\""));
}

TEST(Format, DetectionsShowTheirPostStatusIncludingStale) {
  iss::peebot::v1::Detection d;
  d.set_detection_id("abc");
  d.set_item_id("NODE3000005");
  d.set_post_status(iss::peebot::v1::POST_STATUS_STALE);
  EXPECT_TRUE(absl::StrContains(FormatDetections({d}), " STALE ")) << FormatDetections({d});
}

TEST(Format, ExportProgressBar) {
  const absl::Time at = absl::FromUnixSeconds(1795000000);
  EXPECT_EQ(FormatExportProgress(12345, 0.35, at),
            "export [#######.............]  35% 12345 events, at 2026-11-18T11:06:40Z");
  EXPECT_EQ(FormatExportProgress(0, -1, absl::InfinitePast()),
            "export [....................]   0% 0 events, at -");
  EXPECT_EQ(FormatExportProgress(7, 2, at).substr(0, 32), "export [####################] 10");
}

TEST(Format, ProgressLine) {
  EXPECT_EQ(FormatProgress(0, absl::ZeroDuration(), ""), "tail: 0 events, 0.0/s, last - (0)");
  EXPECT_EQ(FormatProgress(125, absl::Milliseconds(10500), "NODE3000005"),
            "tail: 125 events, 11.9/s, last NODE3000005 (10s)");
}

TEST(Format, UnsetTimestampIsADash) { EXPECT_EQ(FormatTs(google::protobuf::Timestamp()), "-"); }

}  // namespace
}  // namespace iss::issctl
