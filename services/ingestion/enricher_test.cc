#include "services/ingestion/enricher.h"

#include <initializer_list>

#include "common/event_id.h"
#include "common/grpc_util.h"
#include "google/protobuf/unknown_field_set.h"
#include "gtest/gtest.h"

namespace iss::ingest {
namespace {

using iss::telemetry::v1::SIGNAL_STATE_AOS;
using iss::telemetry::v1::SIGNAL_STATE_LOS;

ValidatedUpdate Update() {
  ValidatedUpdate u;
  u.item_id = "NODE3000005";
  // 123456789 ns past the second: truncation must keep 123456 us.
  u.source_ts = absl::FromUnixNanos(1782345652123456789);
  u.value = "42";
  u.status_class = "24";
  u.status_color = "green";
  u.received_at = absl::FromUnixSeconds(1782345653);
  u.source = "isslive";
  return u;
}

TEST(Enricher, FillsEveryField) {
  const absl::Time ingest = absl::FromUnixNanos(1782345653000001999);
  auto e = Enrich(Update(), SIGNAL_STATE_AOS, ingest);
  EXPECT_EQ(e.schema_version(), 1u);
  EXPECT_EQ(e.item_id(), "NODE3000005");
  EXPECT_EQ(FromProto(e.source_ts()), absl::FromUnixMicros(1782345652123456));
  EXPECT_EQ(FromProto(e.ingest_ts()), absl::FromUnixMicros(1782345653000001));
  // The source's receive time, not the ingest time.
  ASSERT_TRUE(e.has_received_ts());
  EXPECT_EQ(FromProto(e.received_ts()), absl::FromUnixSeconds(1782345653));
  EXPECT_EQ(e.value(), "42");
  EXPECT_EQ(e.status().class_(), "24");
  EXPECT_FALSE(e.status().has_indicator());  // null stays unset
  EXPECT_EQ(e.status().color(), "green");
  EXPECT_FALSE(e.has_calibrated_data());
  EXPECT_EQ(e.source(), "isslive");
  EXPECT_EQ(e.signal(), SIGNAL_STATE_AOS);
  EXPECT_EQ(e.event_id().size(), 64u);
  EXPECT_EQ(e.event_id(), ComputeEventId(e));
}

TEST(Enricher, EventIdIsDeterministicAndIgnoresIngestContext) {
  auto a = Enrich(Update(), SIGNAL_STATE_AOS, absl::FromUnixSeconds(1));
  ValidatedUpdate other_source = Update();
  other_source.source = "replay";
  other_source.received_at += absl::Hours(1);
  auto b = Enrich(other_source, SIGNAL_STATE_LOS, absl::FromUnixSeconds(2));
  EXPECT_EQ(a.event_id(), b.event_id());
  // The same update received twice (received_ts differs) is one event.
  EXPECT_NE(FromProto(a.received_ts()), FromProto(b.received_ts()));
}

TEST(Enricher, ReceivedTsIsTruncatedToMicros) {
  ValidatedUpdate u = Update();
  u.received_at = absl::FromUnixNanos(1782345653000001999);
  auto e = Enrich(u, SIGNAL_STATE_AOS, absl::FromUnixSeconds(1));
  EXPECT_EQ(FromProto(e.received_ts()), absl::FromUnixMicros(1782345653000001));
}

TEST(Enricher, EventIdChangesWithEachIdentifyingField) {
  const std::string base = Enrich(Update(), SIGNAL_STATE_AOS, absl::Now()).event_id();
  std::vector<ValidatedUpdate> variants(6, Update());
  variants[0].item_id = "NODE3000004";
  variants[1].source_ts += absl::Microseconds(1);
  variants[2].value = "43";
  variants[3].value.reset();
  variants[4].status_indicator = "";  // empty differs from null
  variants[5].calibrated_data = "42 %";
  for (const auto& v : variants) {
    EXPECT_NE(Enrich(v, SIGNAL_STATE_AOS, absl::Now()).event_id(), base);
  }
  // A sub-microsecond difference is below the precision we carry.
  ValidatedUpdate same = Update();
  same.source_ts += absl::Nanoseconds(100);
  EXPECT_EQ(Enrich(same, SIGNAL_STATE_AOS, absl::Now()).event_id(), base);
}

TEST(Enricher, ReusedOutputIsCleared) {
  iss::telemetry::v1::TelemetryEvent e;
  ValidatedUpdate full = Update();
  full.calibrated_data = "x";
  Enrich(full, SIGNAL_STATE_AOS, absl::Now(), &e);
  Enrich(Update(), SIGNAL_STATE_AOS, absl::Now(), &e);
  EXPECT_FALSE(e.has_calibrated_data());
}

// The reused event is assigned field by field (no Clear()): whatever it held
// before, it must serialise to exactly the bytes of a fresh one.
TEST(Enricher, ReusedOutputEqualsAFreshOneByteForByte) {
  iss::telemetry::v1::TelemetryEvent reused;
  // Start from junk, including a field this schema does not know (99).
  std::string junk = Enrich(Update(), SIGNAL_STATE_LOS, absl::Now()).SerializeAsString();
  junk += std::string(
      "\x9a\x06\x03"
      "abc",
      6);  // field 99, length 3
  ASSERT_TRUE(reused.ParseFromString(junk));
  ASSERT_FALSE(reused.GetReflection()->GetUnknownFields(reused).empty());
  // ... and inside every submessage too.
  for (google::protobuf::Message* sub : std::initializer_list<google::protobuf::Message*>{
           reused.mutable_source_ts(), reused.mutable_ingest_ts(), reused.mutable_received_ts(),
           reused.mutable_status()}) {
    sub->GetReflection()->MutableUnknownFields(sub)->AddVarint(99, 1);
  }
  for (int mask = 0; mask < 32; ++mask) {
    ValidatedUpdate u = Update();
    u.value = (mask & 1) ? std::optional<std::string>("v|1") : std::nullopt;
    u.status_class = (mask & 2) ? std::optional<std::string>("24") : std::nullopt;
    u.status_indicator = (mask & 4) ? std::optional<std::string>("") : std::nullopt;
    u.status_color = (mask & 8) ? std::optional<std::string>("red") : std::nullopt;
    u.calibrated_data = (mask & 16) ? std::optional<std::string>("1 C") : std::nullopt;
    u.source = mask % 2 ? "replay" : "isslive";
    u.received_at = absl::FromUnixMicros(1782345652000000 + mask);
    const absl::Time ingest = absl::FromUnixMicros(1782345653000001 + mask);
    Enrich(u, mask % 3 ? SIGNAL_STATE_AOS : SIGNAL_STATE_LOS, ingest, &reused);
    const auto fresh = Enrich(u, mask % 3 ? SIGNAL_STATE_AOS : SIGNAL_STATE_LOS, ingest);
    EXPECT_EQ(reused.SerializeAsString(), fresh.SerializeAsString()) << "mask " << mask;
    EXPECT_EQ(reused.DebugString(), fresh.DebugString()) << "mask " << mask;
  }
}

}  // namespace
}  // namespace iss::ingest
