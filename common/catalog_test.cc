#include "common/catalog.h"

#include "gtest/gtest.h"

namespace iss {
namespace {

TEST(Catalog, EmbeddedHasTheShippedItems) {
  const Catalog& c = Catalog::Embedded();
  EXPECT_EQ(c.size(), 273u);
  const CatalogItem* tank = c.Find(kUrineTankItem);
  ASSERT_NE(tank, nullptr);
  EXPECT_EQ(tank->discipline, "ETHOS");
  const CatalogItem* first = c.Find("AIRLOCK000001");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->units, "volts");
  EXPECT_EQ(first->ops_name, "ARL_UIA1_V");
  EXPECT_FALSE(c.Contains("CSASSRMS0001"));  // valid on the feed, absent from the catalog
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
  EXPECT_NE(short_row.status().message().find("record 3"), std::string::npos)
      << short_row.status();
  auto dup = Catalog::Parse(header + "A1,D,O,u,n,d\nA1,D,O,u,n,d\n");
  EXPECT_FALSE(dup.ok());
  auto unterminated = Catalog::Parse(header + "A1,D,O,u,\"n,d\n");
  EXPECT_FALSE(unterminated.ok());
  EXPECT_FALSE(Catalog::LoadFile("/nonexistent/catalog.csv").ok());
}

}  // namespace
}  // namespace iss
