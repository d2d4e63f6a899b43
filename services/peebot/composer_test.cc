#include "services/peebot/composer.h"

#include <set>

#include "gtest/gtest.h"
#include "services/peebot/settings.h"

namespace iss::peebot {
namespace {

Detection Det(double rise, double end_level = 55) {
  Detection d;
  d.detection_id = DetectionId("NODE3000005", absl::FromUnixSeconds(1768046400));
  d.item_id = "NODE3000005";
  d.start_time = absl::FromUnixSeconds(1768046400 + 3600 + 120);  // 13:02 UTC
  d.end_time = d.start_time + absl::Seconds(40);
  d.end_level = end_level;
  d.start_level = end_level - rise;
  d.rise = rise;
  d.volume_ml = rise * 82;
  return d;
}

TEST(ComposerTest, FillsTheFiguresAndStaysUnder280) {
  PostComposer c;
  auto out = c.Compose(Det(5), 0, 0, "");
  EXPECT_NE(out.text.find("5%"), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("410 ml"), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("13:02"), std::string::npos) << out.text;
  EXPECT_EQ(out.text.find("{"), std::string::npos) << out.text;
  EXPECT_LE(CodePoints(out.text), kMaxPostChars);
}

TEST(ComposerTest, JokesRotateAndTheTextNeverRepeatsBackToBack) {
  PostComposer c;
  std::string previous;
  std::set<int> jokes;
  int next = 0;
  for (int i = 0; i < 25; ++i) {
    auto out = c.Compose(Det(3), 0, next, previous);
    EXPECT_NE(out.text, previous);
    EXPECT_LE(CodePoints(out.text), kMaxPostChars);
    jokes.insert(out.joke_index);
    previous = out.text;
    next = out.joke_index + 1;
  }
  EXPECT_EQ(jokes.size(), c.joke_count());
}

TEST(ComposerTest, SameDetectionTwiceStillDiffers) {
  PostComposer one({"Tank +{rise}%{folded} {joke}"}, {"ha"});
  auto a = one.Compose(Det(4), 0, 0, "");
  auto b = one.Compose(Det(4), 0, 0, a.text);
  EXPECT_NE(a.text, b.text);
}

TEST(ComposerTest, FoldedDetectionsAreMentioned) {
  PostComposer c;
  EXPECT_NE(c.Compose(Det(4), 2, 0, "").text.find("+2 more since the last post"),
            std::string::npos);
}

TEST(ComposerTest, OverlongTemplatesAreCut) {
  PostComposer c({std::string(300, 'x') + " {joke}"}, {"\xF0\x9F\x9A\xBD joke"});
  auto out = c.Compose(Det(4), 0, 0, "");
  EXPECT_LE(CodePoints(out.text), kMaxPostChars);
  EXPECT_EQ(CodePoints("\xF0\x9F\x9A\xBD"), 1u);
}

TEST(SettingsTest, ValidationNamesTheField) {
  PeeBotSettings s;
  EXPECT_TRUE(Validate(s).ok());
  s.min_rise_percent = 0;
  EXPECT_NE(Validate(s).message().find("settings.min_rise_percent"), std::string::npos);
  s = {};
  s.max_step_gap = absl::Milliseconds(10);
  EXPECT_NE(Validate(s).message().find("settings.max_step_gap"), std::string::npos);
  s = {};
  s.cooldown = absl::Hours(25);
  EXPECT_NE(Validate(s).message().find("settings.cooldown"), std::string::npos);
  s = {};
  s.ml_per_percent = -1;
  EXPECT_NE(Validate(s).message().find("settings.ml_per_percent"), std::string::npos);
}

TEST(SettingsTest, MaskedUpdateChangesOnlyNamedFields) {
  PeeBotSettings cur;
  v1::Settings upd;
  upd.set_min_rise_percent(3);
  upd.set_daily_post_cap(5);
  google::protobuf::FieldMask mask;
  mask.add_paths("min_rise_percent");
  auto next = ApplyUpdate(cur, upd, mask);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->min_rise_percent, 3);
  EXPECT_EQ(next->daily_post_cap, 17u);
  // No mask: the set fields.
  next = ApplyUpdate(cur, upd, {});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->daily_post_cap, 5u);
  mask.add_paths("no_such_field");
  EXPECT_EQ(ApplyUpdate(cur, upd, mask).status().code(), absl::StatusCode::kInvalidArgument);
  upd.set_min_rise_percent(500);
  auto bad = ApplyUpdate(cur, upd, {});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("min_rise_percent"), std::string::npos);
}

TEST(SettingsTest, JsonRoundTripAndBadJson) {
  PeeBotSettings s;
  s.cooldown = absl::Minutes(7);
  s.paused = true;
  s.pause_reason = "maintenance";
  auto back = FromJson(ToJson(s), PeeBotSettings{});
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->cooldown, absl::Minutes(7));
  EXPECT_TRUE(back->paused);
  EXPECT_EQ(back->pause_reason, "maintenance");
  EXPECT_FALSE(FromJson("[1,2]", PeeBotSettings{}).ok());
  EXPECT_FALSE(FromJson(R"({"min_rise_percent": -4})", PeeBotSettings{}).ok());
}

TEST(SettingsTest, NoCredentialsForcesDryRun) {
  RuntimeSettings none(PeeBotSettings{}, false);
  EXPECT_TRUE(none.EffectiveDryRun());
  RuntimeSettings live(PeeBotSettings{}, true);
  EXPECT_FALSE(live.EffectiveDryRun());
}

}  // namespace
}  // namespace iss::peebot
