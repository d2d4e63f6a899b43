#include "common/event_id.h"

#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/grpc_util.h"
#include "gtest/gtest.h"

namespace iss {
namespace {

using iss::telemetry::v1::TelemetryEvent;

TelemetryEvent SeedExample() {
  // The example payload of the original design documents.
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
  EXPECT_EQ(CanonicalEventString(e),
            "TIME_000001|2026-01-01T00:00:00.000001Z|a\\|b\\\\c|$|\\N||\\N|1");
  EXPECT_EQ(ComputeEventId(e), "a84e66ae222bbc13b728a70465f7cf086cc7d63b93f3dc7a1f6e155509bb4fb1");
}

// Pinned from the ids the EVP-and-std::string implementation computed
// (2026-12, issue #19) and checked with Python's hashlib: an event as the
// ingestion benchmark makes it, one with non-ASCII text, escapes and the
// largest schema_version, and canonical strings whose lengths sit at the
// edges of SHA-256's 64-byte blocks and its 55-byte padding limit.
TEST(EventId, GoldenVectorBenchmarkEvent) {
  TelemetryEvent e;
  e.set_schema_version(1);
  e.set_item_id("S3000123");
  ToProto(absl::FromCivil(absl::CivilSecond(2026, 12, 3, 7, 40, 0), absl::UTCTimeZone()) +
              absl::Microseconds(123456),
          e.mutable_source_ts());
  e.set_value("171.625000");
  e.mutable_status()->set_class_("24");
  e.mutable_status()->set_indicator("0");
  e.mutable_status()->set_color("green");
  e.set_calibrated_data("");
  EXPECT_EQ(CanonicalEventString(e),
            "S3000123|2026-12-03T07:40:00.123456Z|171.625000|24|0|green||1");
  EXPECT_EQ(ComputeEventId(e), "8ba8c4a711cbb01a888e8cd388037242fd5c7fca8937c01276433681a499b671");
}

TEST(EventId, GoldenVectorUtf8EscapesAndLargestSchemaVersion) {
  TelemetryEvent e;
  e.set_schema_version(4294967295u);
  e.set_item_id("P1000001");
  ToProto(absl::FromCivil(absl::CivilSecond(1998, 11, 20, 0, 0, 0), absl::UTCTimeZone()) +
              absl::Microseconds(999999),
          e.mutable_source_ts());
  e.set_value(
      "\xc2\xb0"
      "C \xc3\xbc|\\");
  e.mutable_status()->set_class_("a\\");
  e.mutable_status()->set_indicator("|");
  e.set_calibrated_data("x|y");
  EXPECT_EQ(CanonicalEventString(e),
            "P1000001|1998-11-20T00:00:00.999999Z|\xc2\xb0"
            "C \xc3\xbc\\|\\\\|a\\\\|\\||\\N|x\\|y|"
            "4294967295");
  EXPECT_EQ(ComputeEventId(e), "5b4b72b9e4f2de2e7ddfb67d420d1dabe15213d013bb8fd74a3f1a47538aa79e");
}

TEST(EventId, GoldenVectorsAtBlockEdges) {
  const struct {
    size_t canonical_length;
    const char* id;
  } kCases[] = {
      {55, "5be3d639551bff70aeabebd97c3538b097ccb6f3a421551384b9a7b3fbd226c4"},
      {56, "308d1e0e7e885f146b779eb694488879f4df0a4b13ac5c9e4caa4abdcb753dee"},
      {63, "c32ac526e131708bd0162533c1bd968a74363363bcc41e5e4cde574e26980375"},
      {64, "d24e4c6cd248dc20ac013f36aac3e7e0acdb0ddf196f09ed2439cff62f159d17"},
      {119, "9453dfbf603fa68df1163d8679a369a2ff22ae591430cae7c5622f5693628f72"},
      {120, "0d9fe4bd35c80b7160cae9a696b914e0623255c8fde3947ad4258ca6a6f9983c"},
      {200, "859c6ab8eae6cbc08d53760ca51f1f458f42ffa762c67e6f3f7853bfbbbd25f6"},
  };
  for (const auto& c : kCases) {
    TelemetryEvent e;
    e.set_schema_version(1);
    e.set_item_id("LEN");
    ToProto(absl::FromCivil(absl::CivilSecond(2026, 1, 1, 0, 0, 0), absl::UTCTimeZone()),
            e.mutable_source_ts());
    e.set_value(std::string(c.canonical_length - 46, 'v'));
    ASSERT_EQ(CanonicalEventString(e).size(), c.canonical_length);
    EXPECT_EQ(ComputeEventId(e), c.id) << c.canonical_length;
  }
}

TEST(EventId, IsSha256HexAcceptsOnlyWhatSha256HexWrites) {
  EXPECT_TRUE(IsSha256Hex(Sha256Hex("x")));
  EXPECT_TRUE(IsSha256Hex(std::string(64, '0')));
  EXPECT_FALSE(IsSha256Hex(""));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a')));
  EXPECT_FALSE(IsSha256Hex(std::string(65, 'a')));
  EXPECT_FALSE(IsSha256Hex(std::string(64, 'A')));
  EXPECT_FALSE(IsSha256Hex(std::string(64, 'g')));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a') + '\0'));
  EXPECT_FALSE(IsSha256Hex(std::string(64, '\xff')));
}

TEST(EventId, IgnoresEnrichmentFields) {
  TelemetryEvent a = SeedExample();
  TelemetryEvent b = SeedExample();
  b.set_source("test-ingest");
  ToProto(absl::Now(), b.mutable_ingest_ts());
  ToProto(absl::Now() - absl::Hours(24 * 60), b.mutable_received_ts());
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
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // The per-thread context is reused: a short input after a long one.
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Fingerprint, IsTheStartOfTheSha256) {
  EXPECT_EQ(Fingerprint("abc"), "ba7816bf8f01");
  EXPECT_NE(Fingerprint("S0000000000000001"), Fingerprint("S0000000000000002"));
}

// The canonical string as first specified, written the plain way (one
// character at a time, absl::FormatTime): the reference for the fast one.
std::string ReferenceCanonical(const TelemetryEvent& e) {
  auto field = [](bool present, const std::string& v) {
    if (!present) return std::string("\\N");
    std::string out;
    for (char c : v) {
      if (c == '\\' || c == '|') out.push_back('\\');
      out.push_back(c);
    }
    return out;
  };
  return absl::StrCat(
      field(true, e.item_id()), "|",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", FromProto(e.source_ts()), absl::UTCTimeZone()), "|",
      field(e.has_value(), e.value()), "|", field(e.status().has_class_(), e.status().class_()),
      "|", field(e.status().has_indicator(), e.status().indicator()), "|",
      field(e.status().has_color(), e.status().color()), "|",
      field(e.has_calibrated_data(), e.calibrated_data()), "|", e.schema_version());
}

TEST(EventId, MatchesTheReferenceOnRandomEvents) {
  std::mt19937_64 rng(3);
  // Separators and escapes are over-represented, runs of them included.
  const std::string alphabet = "\\|\\|ab9 .-_$#\\N";
  auto text = [&](size_t max) {
    std::string s(rng() % (max + 1), ' ');
    for (char& c : s) c = alphabet[rng() % alphabet.size()];
    return s;
  };
  std::uniform_int_distribution<int64_t> secs(-62135596800LL, 253402300799LL);  // years 1-9999
  for (int i = 0; i < 20000; ++i) {
    TelemetryEvent e;
    e.set_schema_version(static_cast<uint32_t>(rng() % 3));
    e.set_item_id(text(12));
    ToProto(absl::FromUnixSeconds(secs(rng)) +
                absl::Nanoseconds(static_cast<int64_t>(rng() % 1000000000)),
            e.mutable_source_ts());
    if (rng() % 4) e.set_value(text(40));
    if (rng() % 4) e.mutable_status()->set_class_(text(4));
    if (rng() % 4) e.mutable_status()->set_indicator(text(4));
    if (rng() % 4) e.mutable_status()->set_color(text(6));
    if (rng() % 4) e.set_calibrated_data(text(20));
    const std::string reference = ReferenceCanonical(e);
    ASSERT_EQ(CanonicalEventString(e), reference);
    ASSERT_EQ(ComputeEventId(e), Sha256Hex(reference));
  }
}

TEST(EventId, InPlaceOverloadReplacesTheField) {
  TelemetryEvent e = SeedExample();
  e.set_event_id(std::string(200, 'x'));  // longer than an id: must be replaced, not kept
  ComputeEventId(e, e.mutable_event_id());
  EXPECT_EQ(e.event_id(), "bece817f989cd83f115fba05367ac2d01a9b560ba0e223df040cac214fbb0d11");
  ComputeEventId(e, e.mutable_event_id());  // the id itself is not covered
  EXPECT_EQ(e.event_id(), "bece817f989cd83f115fba05367ac2d01a9b560ba0e223df040cac214fbb0d11");
}

TEST(EventId, SameIdsFromManyThreads) {
  const std::string expected = ComputeEventId(SeedExample());
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const TelemetryEvent e = SeedExample();
      for (int i = 0; i < 2000; ++i) {
        if (ComputeEventId(e) != expected) ++mismatches[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

}  // namespace
}  // namespace iss
