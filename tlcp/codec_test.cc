#include "tlcp/codec.h"

#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iss::tlcp {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;

FieldValues Fields(std::initializer_list<std::optional<std::string>> v) { return FieldValues(v); }

// --- ParseMessage -----------------------------------------------------------

TEST(ParseMessage, ConokArguments) {
  auto m = ParseMessage("CONOK,S1a2b3,50000,5000,*");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->type, MessageType::kConok);
  EXPECT_THAT(m->args, ElementsAre("S1a2b3", "50000", "5000", "*"));
}

TEST(ParseMessage, UpdateKeepsCommasInValues) {
  auto m = ParseMessage("U,1,3,a%2Cb|,|#");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->type, MessageType::kUpdate);
  EXPECT_THAT(m->args, ElementsAre("1", "3", "a%2Cb|,|#"));
}

TEST(ParseMessage, FreeTextLastArgument) {
  auto m = ParseMessage("CONERR,2,Requested Adapter Set not available, sorry");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->type, MessageType::kConerr);
  EXPECT_THAT(m->args, ElementsAre("2", "Requested Adapter Set not available, sorry"));
}

TEST(ParseMessage, NoArgumentMessages) {
  for (const char* line : {"PROBE", "WSOK"}) {
    auto m = ParseMessage(line);
    ASSERT_TRUE(m.ok()) << line;
    EXPECT_TRUE(m->args.empty());
  }
  auto loop = ParseMessage("LOOP,0");
  ASSERT_TRUE(loop.ok());
  EXPECT_EQ(loop->type, MessageType::kLoop);
}

TEST(ParseMessage, EveryKnownTagRoundTripsItsName) {
  for (const char* tag :
       {"CONOK", "SERVNAME", "CLIENTIP", "CONS", "SUBOK",  "SUBCMD", "UNSUB", "REQOK", "REQERR",
        "CONF",  "U",        "EOS",      "CS",   "OV",     "PROBE",  "LOOP",  "SYNC",  "NOOP",
        "PROG",  "MSGDONE",  "MSGFAIL",  "END",  "CONERR", "ERROR",  "WSOK"}) {
    // The first argument count the tag accepts.
    std::string line = tag;
    absl::StatusOr<Message> m = ParseMessage(line);
    for (int n = 0; n < 6 && !m.ok(); ++n) {
      line += ",1";
      m = ParseMessage(line);
    }
    ASSERT_TRUE(m.ok()) << tag;
    EXPECT_NE(m->type, MessageType::kUnknown) << tag;
    EXPECT_EQ(MessageTypeName(m->type), tag);
  }
  EXPECT_EQ(MessageTypeName(MessageType::kUnknown), "unknown");
}

TEST(ParseMessage, UnknownTagIsNotAnError) {
  auto m = ParseMessage("MPNREG,1,2");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->type, MessageType::kUnknown);
  EXPECT_EQ(m->tag, "MPNREG");
}

TEST(ParseMessage, EmptyLineIsMalformed) {
  auto m = ParseMessage("");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(MalformedReason(m.status()), "empty");
}

TEST(ParseMessage, TruncatedLinesHaveTooFewArguments) {
  for (const char* line : {"U,1,2", "U,1", "U", "CONOK,S1,50000", "SUBOK,1,2", "EOS,1",
                           "REQERR,3,17", "OV,1,2", "CONERR"}) {
    auto m = ParseMessage(line);
    ASSERT_FALSE(m.ok()) << line;
    EXPECT_EQ(MalformedReason(m.status()), "bad_args") << line;
  }
}

TEST(ParseMessage, TooManyArguments) {
  auto m = ParseMessage("SUBOK,1,2,3,4");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(MalformedReason(m.status()), "bad_args");
  EXPECT_FALSE(ParseMessage("PROBE,1").ok());
}

TEST(ParseIntArg, Bounds) {
  EXPECT_THAT(ParseIntArg("42", 1, 100), ::testing::Eq(absl::StatusOr<int64_t>(42)));
  for (const char* bad : {"", "0", "101", "-1", "4x", " 4", "99999999999999999999"}) {
    auto v = ParseIntArg(bad, 1, 100);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_EQ(MalformedReason(v.status()), "bad_number");
  }
}

// --- LineSplitter -----------------------------------------------------------

TEST(LineSplitter, SplitsCrLfAndJoinsAcrossFrames) {
  LineSplitter s;
  std::vector<std::string> lines;
  s.Feed("PROBE\r\nU,1,1,a", &lines);
  EXPECT_THAT(lines, ElementsAre("PROBE"));
  EXPECT_EQ(s.pending(), 7u);
  s.Feed("bc|d\r", &lines);
  s.Feed("\nSYNC,3\n\r\n", &lines);
  EXPECT_THAT(lines, ElementsAre("PROBE", "U,1,1,abc|d", "SYNC,3"));
  EXPECT_EQ(s.pending(), 0u);
}

TEST(LineSplitter, RunawayLineIsDropped) {
  LineSplitter s;
  std::vector<std::string> lines;
  s.Feed(std::string(kMaxLineBytes, 'x'), &lines);
  s.Feed("yy", &lines);  // pushes past the limit
  EXPECT_EQ(s.overflowed(), 1u);
  s.Feed("\r\nPROBE\r\n", &lines);
  // The runaway line is gone; the next line is intact.
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), "PROBE");
}

// --- PercentDecode ----------------------------------------------------------

TEST(PercentDecode, AsciiAndUtf8) {
  EXPECT_EQ(*PercentDecode("a%7Cb%25c"), "a|b%c");
  EXPECT_EQ(*PercentDecode("%c3%a9t%C3%A9"), "\xC3\xA9t\xC3\xA9");  // "été"
  EXPECT_EQ(*PercentDecode("caf\xC3\xA9"), "caf\xC3\xA9");          // raw UTF-8 passes
  EXPECT_EQ(*PercentDecode("%F0%9F%9A%80"), "\xF0\x9F\x9A\x80");    // U+1F680
  EXPECT_EQ(*PercentDecode("a+b"), "a+b");                          // '+' is literal here
}

TEST(PercentDecode, BadEscapes) {
  for (const char* bad : {"%", "%4", "abc%", "%zz", "%4g", "%%41"}) {
    auto v = PercentDecode(bad);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_EQ(MalformedReason(v.status()), "bad_escape") << bad;
  }
}

TEST(PercentDecode, InvalidUtf8) {
  for (const char* bad : {"%C3", "%C3%28", "%ED%A0%80", "%C0%AF", "%F8%88%80%80%80", "\xFF"}) {
    auto v = PercentDecode(bad);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_EQ(MalformedReason(v.status()), "bad_utf8") << bad;
  }
}

// --- ApplyUpdate: every encoding rule ----------------------------------------

TEST(ApplyUpdate, FullUpdateFromNothing) {
  FieldValues s(3);
  std::vector<bool> changed;
  ASSERT_TRUE(ApplyUpdate("1.5|4224.01|24", s, &changed).ok());
  EXPECT_EQ(s, Fields({"1.5", "4224.01", "24"}));
  EXPECT_THAT(changed, ElementsAre(true, true, true));
}

TEST(ApplyUpdate, EmptyMeansUnchanged) {
  FieldValues s = Fields({"a", "b", "c"});
  std::vector<bool> changed;
  ASSERT_TRUE(ApplyUpdate("|x|", s, &changed).ok());
  EXPECT_EQ(s, Fields({"a", "x", "c"}));
  EXPECT_THAT(changed, ElementsAre(false, true, false));
}

TEST(ApplyUpdate, HashIsNullDollarIsEmpty) {
  FieldValues s = Fields({"a", "b", std::nullopt});
  ASSERT_TRUE(ApplyUpdate("#|$|$", s).ok());
  EXPECT_EQ(s[0], std::nullopt);
  EXPECT_THAT(s[1], Optional(std::string()));
  EXPECT_THAT(s[2], Optional(std::string()));
}

TEST(ApplyUpdate, CaretSkipsFields) {
  FieldValues s = Fields({"a", "b", "c", "d", "e", "f"});
  ASSERT_TRUE(ApplyUpdate("^3|X||Y", s).ok());
  EXPECT_EQ(s, Fields({"a", "b", "c", "X", "e", "Y"}));
  ASSERT_TRUE(ApplyUpdate("Z|^5", s).ok());
  EXPECT_EQ(s, Fields({"Z", "b", "c", "X", "e", "Y"}));
  ASSERT_TRUE(ApplyUpdate("^6", s).ok());
  EXPECT_EQ(s, Fields({"Z", "b", "c", "X", "e", "Y"}));
}

TEST(ApplyUpdate, PercentEncodedValues) {
  FieldValues s(2);
  ASSERT_TRUE(ApplyUpdate("%23tag|%24%5E%7C", s).ok());
  EXPECT_EQ(s, Fields({"#tag", "$^|"}));
}

TEST(ApplyUpdate, SingleFieldEmptyIsUnchanged) {
  FieldValues s = Fields({"v"});
  ASSERT_TRUE(ApplyUpdate("", s).ok());
  EXPECT_EQ(s, Fields({"v"}));
}

TEST(ApplyUpdate, CaretBeyondFieldCountLeavesStateUntouched) {
  FieldValues s = Fields({"a", "b", "c"});
  for (const char* bad : {"^4", "x|^3", "^2|^2", "^0", "^", "^x", "^-1"}) {
    auto st = ApplyUpdate(bad, s);
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_EQ(MalformedReason(st), "bad_skip") << bad;
    EXPECT_EQ(s, Fields({"a", "b", "c"})) << bad;
  }
}

TEST(ApplyUpdate, WrongFieldCount) {
  FieldValues s = Fields({"a", "b", "c"});
  for (const char* bad : {"x|y", "x", "x|y|z|w", "||||"}) {
    auto st = ApplyUpdate(bad, s);
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_EQ(MalformedReason(st), "field_count") << bad;
  }
  EXPECT_EQ(s, Fields({"a", "b", "c"}));
}

TEST(ApplyUpdate, BadEscapeIsAllOrNothing) {
  FieldValues s = Fields({"a", "b"});
  auto st = ApplyUpdate("new|%G1", s);
  EXPECT_EQ(MalformedReason(st), "bad_escape");
  EXPECT_EQ(s, Fields({"a", "b"}));
  EXPECT_EQ(MalformedReason(ApplyUpdate("new|%FF", s)), "bad_utf8");
}

// --- Encoding (server side) round-trips through the decoder -----------------

TEST(EncodeUpdate, CompactForms) {
  const FieldValues prev = Fields({"1", "2", "3", "4", std::nullopt, ""});
  EXPECT_EQ(EncodeUpdate(nullptr, prev), "1|2|3|4|#|$");
  EXPECT_EQ(EncodeUpdate(&prev, prev), "^6");
  EXPECT_EQ(EncodeUpdate(&prev, Fields({"9", "2", "3", "4", std::nullopt, ""})), "9|^5");
  EXPECT_EQ(EncodeUpdate(&prev, Fields({"1", "X", "3", "4", std::nullopt, "Y"})), "|X|^3|Y");
  EXPECT_EQ(EncodeUpdate(&prev, Fields({"1", "2", "3", "4", "#", std::nullopt})), "^4|%23|#");
}

TEST(EncodeValue, EscapesOnlyWhatTheSpecificationRequires) {
  EXPECT_EQ(EncodeValue("a|b%c"), "a%7Cb%25c");
  EXPECT_EQ(EncodeValue("line\r\n"), "line%0D%0A");
  EXPECT_EQ(EncodeValue("caf\xC3\xA9"), "caf\xC3\xA9");
  // A leading marker would read as null, empty or a skip: escaped ...
  EXPECT_EQ(EncodeValue("#"), "%23");
  EXPECT_EQ(EncodeValue("$"), "%24");
  EXPECT_EQ(EncodeValue("^2"), "%5E2");
  EXPECT_EQ(EncodeValue("#$^"), "%23$^");
  // ... anywhere else the characters travel as they are, like '+' and ','.
  EXPECT_EQ(EncodeValue("a#b$c^d+e,f"), "a#b$c^d+e,f");
  EXPECT_EQ(EncodeValue("1+1"), "1+1");
}

// Vectors from the TLCP specification's update examples and Lightstreamer's
// official clients' codec tests: what a real server sends must decode so.
TEST(ApplyUpdate, SpecificationAndOfficialClientVectors) {
  FieldValues f(10);
  ASSERT_TRUE(ApplyUpdate("20:00:33|3.04|0.0|2.41|3.67|3.03|3.04|#|#|$", f).ok());
  EXPECT_EQ(f, Fields({"20:00:33", "3.04", "0.0", "2.41", "3.67", "3.03", "3.04", std::nullopt,
                       std::nullopt, ""}));
  std::vector<bool> changed;
  ASSERT_TRUE(ApplyUpdate("20:00:54|3.07|0.98|||3.06|3.07|||Suspended", f, &changed).ok());
  EXPECT_THAT(changed, ElementsAre(true, true, true, false, false, true, true, false, false, true));
  EXPECT_EQ(f[9], "Suspended");
  ASSERT_TRUE(ApplyUpdate("20:04:40|^4|3.02|3.03|||", f, &changed).ok());
  EXPECT_THAT(changed,
              ElementsAre(true, false, false, false, false, true, true, false, false, false));
  ASSERT_TRUE(ApplyUpdate("20:06:10|3.05|0.32|^7", f, &changed).ok());
  EXPECT_THAT(changed,
              ElementsAre(true, true, true, false, false, false, false, false, false, false));

  FieldValues one(1);
  ASSERT_TRUE(ApplyUpdate("bar%c3%a0%C3%A8%25%23%24%5E", one).ok());  // mixed-case hex
  EXPECT_EQ(one[0], "bar\xC3\xA0\xC3\xA8%#$^");
  ASSERT_TRUE(ApplyUpdate("nick+242+I%C3%B1t", one).ok());  // '+' is a plus, not a space
  EXPECT_EQ(one[0], "nick+242+I\xC3\xB1t");
  ASSERT_TRUE(ApplyUpdate("#abc", one).ok());  // only a whole "#" is null
  EXPECT_EQ(one[0], "#abc");
  ASSERT_TRUE(ApplyUpdate("a,b", one).ok());
  EXPECT_EQ(one[0], "a,b");

  FieldValues four(4);
  ASSERT_TRUE(ApplyUpdate("#|#|$|z", four).ok());
  ASSERT_TRUE(ApplyUpdate("|n|#|#", four).ok());
  EXPECT_EQ(four, Fields({std::nullopt, "n", std::nullopt, std::nullopt}));
}

// The client asks for no diff format (LS_supported_diffs= in create_session,
// TLCP >= 2.4): a JSON Patch or TLCP-diff value is the server's error, and
// the item's state stays as it was.
TEST(ApplyUpdate, DiffFormatsAreRefused) {
  FieldValues f = Fields({"{}", "foo"});
  for (const char* diff : {"^P[{\"op\":\"add\",\"path\":\"/foo\",\"value\":1}]|", "|^Tc"}) {
    absl::Status s = ApplyUpdate(diff, f);
    EXPECT_EQ(MalformedReason(s), "diff_not_negotiated") << diff;
    EXPECT_EQ(f, Fields({"{}", "foo"}));
  }
}

TEST(DecodeText, DecodesOrKeepsWhatCameIn) {
  EXPECT_EQ(DecodeText("Requested Adapter Set not available"),
            "Requested Adapter Set not available");
  EXPECT_EQ(DecodeText("Bad%20Group%2C name%25"), "Bad Group, name%");
  EXPECT_EQ(DecodeText("100%"), "100%");  // a stray '%': kept
  EXPECT_EQ(DecodeText("fe80::1%eth0"), "fe80::1%eth0");
  EXPECT_EQ(DecodeText("%FF"), "%FF");  // not UTF-8 once decoded: kept
}

TEST(ParseControlLink, EveryFormTheServerMayGive) {
  struct Case {
    const char* link;
    const char* host;
    int port;
    const char* path;
  };
  for (const Case& c :
       std::vector<Case>{{"push2.example.com", "push2.example.com", 0, ""},
                         {"push2.example.com:8443", "push2.example.com", 8443, ""},
                         {"push2.example.com/prefix", "push2.example.com", 0, "/prefix"},
                         {"host:90/a/b/", "host", 90, "/a/b"},
                         {"10.0.0.1", "10.0.0.1", 0, ""},
                         {"10.0.0.1:8080", "10.0.0.1", 8080, ""},
                         {"[::1]:9000", "::1", 9000, ""},
                         {"[fe80::1]", "fe80::1", 0, ""},
                         {"https://host.example:444", "host.example", 444, ""}}) {
    absl::StatusOr<ControlLink> l = ParseControlLink(c.link);
    ASSERT_TRUE(l.ok()) << c.link << ": " << l.status();
    EXPECT_EQ(l->host, c.host) << c.link;
    EXPECT_EQ(l->port, c.port) << c.link;
    EXPECT_EQ(l->path, c.path) << c.link;
  }
  for (const char* bad : {"", ":80", "host:0", "host:70000", "host:x", "[::1", "[::1]x", "ho st",
                          "host/a b", "host/a?b", "ho;st"}) {
    EXPECT_EQ(MalformedReason(ParseControlLink(bad).status()), "bad_control_link") << bad;
  }
}

TEST(EncodeUpdate, RandomRoundTrip) {
  std::mt19937 rng(7);
  const std::vector<std::optional<std::string>> pool = {
      std::nullopt, "",   "0",  "12.5", "#",   "$",   "^2",   "a|b", "%41", "\xC3\xA9", "x,y",
      "+",          "#x", "$y", "^P",   "^T1", "a#b", "c$^d", "1+1", "%",   "\r\n"};
  FieldValues sent(6), received(6);
  for (int i = 0; i < 2000; ++i) {
    FieldValues next = sent;
    for (auto& f : next) {
      if (rng() % 3 == 0) f = pool[rng() % pool.size()];
    }
    const std::string wire = EncodeUpdate(i == 0 ? nullptr : &sent, next);
    ASSERT_TRUE(ApplyUpdate(wire, received).ok()) << wire;
    ASSERT_EQ(received, next) << wire;
    sent = next;
  }
}

// --- Request parameters -----------------------------------------------------

TEST(Params, FormatAndParse) {
  const std::string text =
      FormatParams({{"LS_group", "TIME_000001 NODE3000005"}, {"LS_cid", "a b&c=d"}});
  EXPECT_EQ(text, "LS_group=TIME_000001%20NODE3000005&LS_cid=a%20b%26c%3Dd");
  auto parsed = ParseParams(text);
  ASSERT_TRUE(parsed.ok());
  EXPECT_THAT(*parsed, ElementsAre(std::pair<std::string, std::string>("LS_group",
                                                                       "TIME_000001 NODE3000005"),
                                   std::pair<std::string, std::string>("LS_cid", "a b&c=d")));
  auto plus = ParseParams("LS_schema=Value+TimeStamp");
  ASSERT_TRUE(plus.ok());
  EXPECT_EQ((*plus)[0].second, "Value TimeStamp");
}

TEST(Params, Malformed) {
  for (const char* bad : {"LS_op", "a=%zz", "a=1&b"}) {
    auto p = ParseParams(bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(MalformedReason(p.status()), "bad_params");
  }
}

}  // namespace
}  // namespace iss::tlcp
