#include "common/event_id.h"

#include "absl/time/time.h"
#include "common/grpc_util.h"
#include "gtest/gtest.h"

namespace iss {
namespace {

using iss::telemetry::v1::TelemetryEvent;

TelemetryEvent SeedExample() {
  // The example payload of seed 000 section 5.
  TelemetryEvent e;
  e.set_schema_version(1);
  e.set_item_id("USLAB000061");
  ToProto(absl::FromCivil(absl::CivilSecond(2025, 1, 1, 12, 0, 0), absl::UTCTimeZone()),
          e.mutable_source_ts());
  e.set_value("12.34");
  e.mutable_status()->set_class_("OK");
  e.mutable_status()->set_indicator("NOMINAL");
  e.mutable_status()->set_color("GREEN");
  e.set_calibrated_data("12.34 C");
  return e;
}

// Golden vectors: computed independently (Python hashlib over the canonical
// string). If one of these changes, every stored event_id changes: that needs
// a schema_version bump, never a silent edit.
TEST(EventId, GoldenVectorSeedExample) {
  const TelemetryEvent e = SeedExample();
  EXPECT_EQ(CanonicalEventString(e),
            "USLAB000061|2025-01-01T12:00:00.000000Z|12.34|OK|NOMINAL|GREEN|12.34 C|1");
  EXPECT_EQ(ComputeEventId(e), "bece817f989cd83f115fba05367ac2d01a9b560ba0e223df040cac214fbb0d11");
}

TEST(EventId, GoldenVectorNullsAndMicros) {
  TelemetryEvent e;
  e.set_schema_version(1);
  e.set_item_id("NODE3000005");
  ToProto(absl::FromCivil(absl::CivilSecond(2026, 6, 25, 0, 0, 52), absl::UTCTimeZone()) +
              absl::Milliseconds(502),
          e.mutable_source_ts());
  e.set_value("42");
  e.mutable_status()->set_class_("24");
  EXPECT_EQ(CanonicalEventString(e), "NODE3000005|2026-06-25T00:00:52.502000Z|42|24|\\N|\\N|\\N|1");
  EXPECT_EQ(ComputeEventId(e), "453ba58cef8a6a9f00597be994eb1d000b438550c4afbad2f97b3fa39e588e62");
}

TEST(EventId, GoldenVectorEscapes) {
  TelemetryEvent e;
  e.set_schema_version(1);
  e.set_item_id("TIME_000001");
  ToProto(absl::FromUnixMicros(1767225600000001), e.mutable_source_ts());
  e.set_value("a|b\\c");
  e.mutable_status()->set_class_("$");
  e.mutable_status()->set_color("");
  EXPECT_EQ(CanonicalEventString(e), "TIME_000001|2026-01-01T00:00:00.000001Z|a\\|b\\\\c|$|\\N||\\N|1");
  EXPECT_EQ(ComputeEventId(e), "a84e66ae222bbc13b728a70465f7cf086cc7d63b93f3dc7a1f6e155509bb4fb1");
}

TEST(EventId, IgnoresEnrichmentFields) {
  TelemetryEvent a = SeedExample();
  TelemetryEvent b = SeedExample();
  b.set_source("test-ingest");
  ToProto(absl::Now(), b.mutable_ingest_ts());
  b.set_event_id("whatever");
  b.set_signal(iss::telemetry::v1::SIGNAL_STATE_AOS);
  EXPECT_EQ(ComputeEventId(a), ComputeEventId(b));
}

TEST(EventId, EveryIdentifyingFieldChangesTheId) {
  const std::string base = ComputeEventId(SeedExample());
  std::vector<std::function<void(TelemetryEvent&)>> edits = {
      [](TelemetryEvent& e) { e.set_item_id("USLAB000062"); },
      [](TelemetryEvent& e) { e.mutable_source_ts()->set_nanos(1000); },
      [](TelemetryEvent& e) { e.set_value("12.35"); },
      [](TelemetryEvent& e) { e.clear_value(); },
      [](TelemetryEvent& e) { e.mutable_status()->set_class_("X"); },
      [](TelemetryEvent& e) { e.mutable_status()->clear_indicator(); },
      [](TelemetryEvent& e) { e.mutable_status()->set_color(""); },
      [](TelemetryEvent& e) { e.clear_calibrated_data(); },
      [](TelemetryEvent& e) { e.set_schema_version(2); },
  };
  for (size_t i = 0; i < edits.size(); ++i) {
    TelemetryEvent e = SeedExample();
    edits[i](e);
    EXPECT_NE(ComputeEventId(e), base) << "edit " << i;
  }
}

TEST(EventId, NullDiffersFromEmptyAndFromLiteralBackslashN) {
  TelemetryEvent null_value = SeedExample();
  null_value.clear_value();
  TelemetryEvent empty_value = SeedExample();
  empty_value.set_value("");
  TelemetryEvent literal = SeedExample();
  literal.set_value("\\N");
  EXPECT_NE(ComputeEventId(null_value), ComputeEventId(empty_value));
  EXPECT_NE(ComputeEventId(null_value), ComputeEventId(literal));
}

TEST(EventId, SeparatorInsideAFieldCannotForgeAnotherEvent) {
  TelemetryEvent a = SeedExample();
  a.set_value("1|OK");
  a.mutable_status()->set_class_("X");
  TelemetryEvent b = SeedExample();
  b.set_value("1");
  b.mutable_status()->set_class_("OK|X");
  EXPECT_NE(ComputeEventId(a), ComputeEventId(b));
}

TEST(Sha256Hex, KnownAnswer) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace iss
