#include "common/config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iss {
namespace {

using ::testing::HasSubstr;

TEST(EnvConfig, DefaultsApplyWhenUnset) {
  EnvConfig c("test");
  const auto* s = c.String("ISS_S", "dflt", "a string");
  const auto* n = c.Int("ISS_N", 7, 1, 10, "a number");
  const auto* d = c.Duration("ISS_D", absl::Seconds(5), absl::ZeroDuration(), absl::Hours(1), "d");
  const auto* b = c.Bool("ISS_B", true, "a flag");
  const auto* a = c.Address("ISS_A", "127.0.0.1:50051", "an address");
  ASSERT_TRUE(c.Load(MapEnv({})).ok());
  EXPECT_EQ(*s, "dflt");
  EXPECT_EQ(*n, 7);
  EXPECT_EQ(*d, absl::Seconds(5));
  EXPECT_TRUE(*b);
  EXPECT_EQ(*a, "127.0.0.1:50051");
}

TEST(EnvConfig, ValuesFromEnvironment) {
  EnvConfig c("test");
  const auto* n = c.Int("ISS_N", 7, 1, 100, "n");
  const auto* x = c.Double("ISS_X", 1.0, 0, 10, "x");
  const auto* d = c.Duration("ISS_D", absl::Seconds(5), absl::ZeroDuration(), absl::Hours(2), "d");
  const auto* e = c.Enum("ISS_E", "a", {"a", "b"}, "e");
  const auto* b = c.Bool("ISS_B", false, "b");
  ASSERT_TRUE(c.Load(MapEnv({{"ISS_N", "42"},
                             {"ISS_X", "2.5"},
                             {"ISS_D", "1h30m"},
                             {"ISS_E", "b"},
                             {"ISS_B", "yes"}}))
                  .ok());
  EXPECT_EQ(*n, 42);
  EXPECT_DOUBLE_EQ(*x, 2.5);
  EXPECT_EQ(*d, absl::Minutes(90));
  EXPECT_EQ(*e, "b");
  EXPECT_TRUE(*b);
}

TEST(EnvConfig, EveryBadVariableIsReportedOnceWithNameValueAndExpectation) {
  EnvConfig c("test");
  c.Int("ISS_N", 7, 1, 10, "n");
  c.Duration("ISS_D", absl::Seconds(5), absl::ZeroDuration(), absl::Hours(1), "d");
  c.Address("ISS_A", "127.0.0.1:1", "a");
  c.Enum("ISS_E", "a", {"a", "b"}, "e");
  c.String("ISS_REQ", std::nullopt, "must be given");
  c.String("ISS_SECRET", "", "s", /*secret=*/true);
  c.Int("ISS_SECRET_N", 1, 1, 2, "n");
  const absl::Status s = c.Load(MapEnv({{"ISS_N", "11"},
                                        {"ISS_D", "5 parsecs"},
                                        {"ISS_A", "localhost"},
                                        {"ISS_E", "c"},
                                        {"ISS_SECRET", "hunter2"}}));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  const std::string m(s.message());
  EXPECT_THAT(m, HasSubstr("ISS_N=\"11\": expected an integer in [1, 10]"));
  EXPECT_THAT(m, HasSubstr("ISS_D=\"5 parsecs\": expected a duration"));
  EXPECT_THAT(m, HasSubstr("ISS_A=\"localhost\": expected host:port"));
  EXPECT_THAT(m, HasSubstr("ISS_E=\"c\": expected one of: a, b"));
  EXPECT_THAT(m, HasSubstr("ISS_REQ is required"));
  EXPECT_THAT(m, ::testing::Not(HasSubstr("hunter2")));
}

TEST(EnvConfig, HelpListsEveryVariableAndHidesSecretDefaults) {
  EnvConfig c("svc");
  c.String("ISS_ONE", "x", "first");
  c.String("ISS_TOKEN", "topsecret", "token", true);
  const std::string help = c.HelpText();
  EXPECT_THAT(help, HasSubstr("ISS_ONE"));
  EXPECT_THAT(help, HasSubstr("first"));
  EXPECT_THAT(help, HasSubstr("ISS_TOKEN"));
  EXPECT_THAT(help, ::testing::Not(HasSubstr("topsecret")));
}

TEST(EnvConfig, EffectiveMasksSecrets) {
  EnvConfig c("svc");
  c.String("ISS_TOKEN", "", "token", true);
  c.String("ISS_PLAIN", "", "plain");
  ASSERT_TRUE(c.Load(MapEnv({{"ISS_TOKEN", "abc"}, {"ISS_PLAIN", "p"}})).ok());
  auto eff = c.Effective();
  ASSERT_EQ(eff.size(), 2u);
  EXPECT_EQ(eff[0].second, "<set>");
  EXPECT_EQ(eff[1].second, "p");
}

// A bound setting's default is its struct's value, and Load() writes the
// value read (or the default) back into the struct.
TEST(EnvConfig, BoundSettingsTakeTheirDefaultFromTheStructAndFillIt) {
  struct Options {
    std::string addr = "127.0.0.1:8080";
    std::string token;
    std::string mode = "live";
    size_t batch = 5000;
    int threads = 2;
    double rate = 1.5;
    bool dry_run = false;
    absl::Duration wait = absl::Milliseconds(100);
    std::vector<std::string> items = {"A", "B"};
  } o;
  EnvConfig cfg("test");
  cfg.BindAddress(&o.addr, "ISS_T_ADDR", "listen");
  cfg.BindRequired(&o.token, "ISS_T_TOKEN", "token", /*secret=*/true);
  cfg.BindEnum(&o.mode, "ISS_T_MODE", {"live", "dry"}, "mode");
  cfg.Bind(&o.batch, "ISS_T_BATCH", 1, 100000, "batch");
  cfg.Bind(&o.threads, "ISS_T_THREADS", 1, 64, "threads");
  cfg.Bind(&o.rate, "ISS_T_RATE", 0, 10, "rate");
  cfg.Bind(&o.dry_run, "ISS_T_DRY_RUN", "dry run");
  cfg.Bind(&o.wait, "ISS_T_WAIT", absl::ZeroDuration(), absl::Seconds(10), "wait");
  cfg.BindList(&o.items, "ISS_T_ITEMS", "items");
  const std::string help = cfg.HelpText();
  EXPECT_NE(help.find("default \"127.0.0.1:8080\""), std::string::npos) << help;
  EXPECT_NE(help.find("default \"5000\""), std::string::npos) << help;
  EXPECT_NE(help.find("default \"100ms\""), std::string::npos) << help;
  EXPECT_NE(help.find("default \"A,B\""), std::string::npos) << help;
  EXPECT_FALSE(cfg.Load(MapEnv({})).ok());  // the token is required
  ASSERT_TRUE(cfg.Load(MapEnv({{"ISS_T_TOKEN", "s"},
                               {"ISS_T_BATCH", "7"},
                               {"ISS_T_DRY_RUN", "true"},
                               {"ISS_T_ITEMS", " X , ,Y "},
                               {"ISS_T_WAIT", "2s"}}))
                  .ok());
  EXPECT_EQ(o.token, "s");
  EXPECT_EQ(o.batch, 7u);
  EXPECT_TRUE(o.dry_run);
  EXPECT_EQ(o.wait, absl::Seconds(2));
  EXPECT_EQ(o.items, (std::vector<std::string>{"X", "Y"}));
  EXPECT_EQ(o.addr, "127.0.0.1:8080");  // defaults written back too
  EXPECT_EQ(o.threads, 2);
  EXPECT_EQ(o.mode, "live");
  // A failed Load() leaves the struct as it was.
  o.batch = 9;
  EXPECT_FALSE(cfg.Load(MapEnv({{"ISS_T_TOKEN", "s"}, {"ISS_T_BATCH", "0"}})).ok());
  EXPECT_EQ(o.batch, 9u);
}

TEST(EnvConfig, AddressesBindParsedAndRefuseUnbracketedIpv6) {
  net::HostPort server{"push.lightstreamer.com", 443};
  EnvConfig cfg("test");
  cfg.BindAddress(&server, "ISS_T_SERVER", "server");
  EXPECT_NE(cfg.HelpText().find("default \"push.lightstreamer.com:443\""), std::string::npos);
  ASSERT_TRUE(cfg.Load(MapEnv({{"ISS_T_SERVER", "[::1]:8443"}})).ok());
  EXPECT_EQ(server, (net::HostPort{"::1", 8443}));
  const absl::Status bad = cfg.Load(MapEnv({{"ISS_T_SERVER", "::1:8443"}}));
  EXPECT_THAT(std::string(bad.message()),
              HasSubstr("ISS_T_SERVER=\"::1:8443\": expected host:port with a port in [0, 65535]"));
  EXPECT_EQ(server, (net::HostPort{"::1", 8443}));
}

TEST(EnvConfig, ChecksAcrossSettingsRunAfterBindingAndJoinTheErrors) {
  std::string source = "live";
  std::string file;
  int n = 1;
  EnvConfig cfg("test");
  cfg.BindEnum(&source, "ISS_T_SOURCE", {"live", "replay"}, "source");
  cfg.Bind(&file, "ISS_T_FILE", "file");
  cfg.Bind(&n, "ISS_T_N", 1, 10, "n");
  cfg.Check([&] {
    return source == "replay" && file.empty() ? "ISS_T_FILE: required when ISS_T_SOURCE=replay"
                                              : "";
  });
  EXPECT_TRUE(cfg.Load(MapEnv({})).ok());
  EXPECT_TRUE(cfg.Load(MapEnv({{"ISS_T_SOURCE", "replay"}, {"ISS_T_FILE", "f"}})).ok());
  const absl::Status bad = cfg.Load(MapEnv({{"ISS_T_SOURCE", "replay"}, {"ISS_T_FILE", ""}}));
  EXPECT_THAT(std::string(bad.message()),
              HasSubstr("\n  ISS_T_FILE: required when ISS_T_SOURCE=replay"));
  // A variable that does not parse is reported alone: checks see only bound values.
  const absl::Status unparsed = cfg.Load(MapEnv({{"ISS_T_N", "0"}, {"ISS_T_FILE", ""}}));
  EXPECT_THAT(std::string(unparsed.message()), HasSubstr("ISS_T_N"));
}

TEST(ParseDuration, Forms) {
  EXPECT_EQ(*ParseDuration("250ms"), absl::Milliseconds(250));
  EXPECT_EQ(*ParseDuration("0"), absl::ZeroDuration());
  EXPECT_EQ(*ParseDuration("15m"), absl::Minutes(15));
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("-5s").ok());
  EXPECT_FALSE(ParseDuration("inf").ok());
  EXPECT_FALSE(ParseDuration("5").ok());
}

}  // namespace
}  // namespace iss
