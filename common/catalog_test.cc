#include "common/catalog.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iss {
namespace {

using ::testing::HasSubstr;

TEST(Catalog, EmbeddedHasTheShippedItems) {
  const Catalog& c = Catalog::Embedded();
  EXPECT_EQ(c.size(), 337u);  // every id the live feed is known to serve
  const CatalogItem* tank = c.Find(kUrineTankItem);
  ASSERT_NE(tank, nullptr);
  EXPECT_EQ(tank->discipline, "ETHOS");
  const CatalogItem* first = c.Find("AIRLOCK000001");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->units, "volts");
  EXPECT_EQ(first->ops_name, "ARL_UIA1_V");
  EXPECT_TRUE(c.Contains("CSASSRMS001"));   // Canadian robotics
  EXPECT_TRUE(c.Contains("RUSSEG000001"));  // Russian segment
  EXPECT_FALSE(c.Contains("NOT_AN_ITEM"));
}

TEST(Catalog, EmbeddedValueLabelsOfEnumeratedItems) {
  const Catalog& c = Catalog::Embedded();
  int enumerated = 0;
  for (const CatalogItem& item : c.items()) enumerated += item.value_labels.empty() ? 0 : 1;
  EXPECT_EQ(enumerated, 160);
  ASSERT_NE(c.LabelOf(kUrineProcessorItem, "32"), nullptr);
  EXPECT_EQ(*c.LabelOf(kUrineProcessorItem, "32"), "STANDBY");
  EXPECT_EQ(*c.LabelOf(kUrineProcessorItem, "32.0"), "STANDBY");  // same integer
  EXPECT_EQ(*c.LabelOf(kUrineProcessorItem, "128"), "SYSTEM INITIALIZED");
  EXPECT_EQ(c.LabelOf(kUrineProcessorItem, "33"), nullptr);    // no such state
  EXPECT_EQ(c.LabelOf(kUrineProcessorItem, "32.5"), nullptr);  // not an integer
  EXPECT_EQ(c.LabelOf(kUrineProcessorItem, "STANDBY"), nullptr);
  EXPECT_EQ(c.LabelOf(kUrineTankItem, "32"), nullptr);  // a percentage, not enumerated
  EXPECT_EQ(c.LabelOf("NOT_AN_ITEM", "1"), nullptr);
  EXPECT_EQ(*c.LabelOf("RUSSEG000004", "1"), "SM KURS P1, P2 Failure-RS");  // quoted in the CSV
}

TEST(Catalog, ValueLabelErrorsNameTheRecord) {
  const std::string header = "item_id,discipline,ops_name,units,name,description\n";
  auto c = Catalog::Parse(header + "A1,D,O,u,n,d\n");
  ASSERT_TRUE(c.ok());
  const auto error = [&](const std::string& csv) {
    Catalog copy = *c;
    return std::string(copy.AddValueLabels(csv).message());
  };
  EXPECT_THAT(error("id,v\nA1,1\n"), HasSubstr("header"));
  EXPECT_THAT(error("item_id,value,label\nB9,1,On\n"), HasSubstr("record 2: item B9 is not"));
  EXPECT_THAT(error("item_id,value,label\nA1,1.5,On\n"), HasSubstr("not an integer"));
  EXPECT_THAT(error("item_id,value,label\nA1,01,On\n"), HasSubstr("not an integer"));
  EXPECT_THAT(error("item_id,value,label\nA1,1,On\nA1,1,Off\n"), HasSubstr("record 3: duplicate"));
  EXPECT_THAT(error("item_id,value,label\nA1,1,\n"), HasSubstr("empty label"));
  EXPECT_THAT(error("item_id,value,label\nA1,1\n"), HasSubstr("expected 3 fields"));
  Catalog ok = *c;
  ASSERT_TRUE(ok.AddValueLabels("item_id,value,label\nA1,1,On\nA1,0,Off\n").ok());
  EXPECT_EQ(*ok.LabelOf("A1", "0"), "Off");
}

TEST(Catalog, QuotedFieldsWithCommasQuotesAndNewlines) {
  auto c = Catalog::Parse(
      "item_id,discipline,ops_name,units,name,description\n"
      "A1,D,O,u,\"a, \"\"quoted\"\" name\",\"two\nlines\"\r\n");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ(c->items()[0].name, "a, \"quoted\" name");
  EXPECT_EQ(c->items()[0].description, "two\nlines");
}

TEST(Catalog, ErrorsNameTheRecord) {
  const std::string header = "item_id,discipline,ops_name,units,name,description\n";
  auto wrong_header = Catalog::Parse("id,x\nA,B\n");
  EXPECT_FALSE(wrong_header.ok());
  auto short_row = Catalog::Parse(header + "A1,D,O,u,n,d\nA2,D\n");
  ASSERT_FALSE(short_row.ok());
  EXPECT_NE(short_row.status().message().find("record 3"), std::string::npos) << short_row.status();
  auto dup = Catalog::Parse(header + "A1,D,O,u,n,d\nA1,D,O,u,n,d\n");
  EXPECT_FALSE(dup.ok());
  auto unterminated = Catalog::Parse(header + "A1,D,O,u,\"n,d\n");
  EXPECT_FALSE(unterminated.ok());
  EXPECT_FALSE(Catalog::LoadFile("/nonexistent/catalog.csv").ok());
}

}  // namespace
}  // namespace iss
