#include "common/address_file.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace iss {
namespace {

std::string TempPath(const char* name) {
  return absl::StrCat(::testing::TempDir(), "/", name, "-", ::getpid());
}

TEST(AddressFile, WritesTheBoundPortsUnderTheConfiguredHosts) {
  const std::string path = TempPath("addresses");
  std::remove(path.c_str());
  ASSERT_TRUE(WriteAddressFile(path, {{"grpc", "127.0.0.1:0", 40001},
                                      {"ops", "[::1]:0", 40002},
                                      {"http", "0.0.0.0:8080", 8080}})
                  .ok());
  auto read = ReadAddressFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read,
            (std::map<std::string, std::string>{
                {"grpc", "127.0.0.1:40001"}, {"ops", "[::1]:40002"}, {"http", "0.0.0.0:8080"}}));
  std::remove(path.c_str());
}

TEST(AddressFile, NoPathWritesNothingAndAMissingFileIsNotFound) {
  EXPECT_TRUE(WriteAddressFile("", {{"grpc", "127.0.0.1:0", 1}}).ok());
  EXPECT_EQ(ReadAddressFile(TempPath("never-written")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(AddressFile, ABadAddressOrPathIsAnErrorNamingIt) {
  const absl::Status bad = WriteAddressFile(TempPath("bad"), {{"grpc", "no-port", 1}});
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("grpc address \"no-port\""), std::string::npos) << bad;
  const absl::Status unwritable =
      WriteAddressFile("/nonexistent-dir/addresses", {{"grpc", "127.0.0.1:0", 1}});
  EXPECT_FALSE(unwritable.ok());
  EXPECT_NE(unwritable.message().find("/nonexistent-dir/addresses"), std::string::npos);
}

}  // namespace
}  // namespace iss
