// Where a consumer starts on partitions it has no stored offset for: at the
// first message, looked up before the assignment, so librdkafka never has to
// resolve a logical offset (which, for a partition whose leader it does not
// know yet, it retries only after a fixed 500 ms).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/kafka.h"
#include "common/log.h"
#include "tests/support/kafka_cluster.h"
#include "tests/support/wait.h"

namespace iss::kafka {
namespace {

using ::iss::testing::KafkaCluster;
using ::iss::testing::WaitFor;

TEST(KafkaConsumerStartTest, UnstoredPartitionsStartAtTheFirstMessageWithoutALogicalLookup) {
  auto cluster = KafkaCluster::Start(1);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  constexpr int kPartitions = 12;
  constexpr int kMessages = 240;
  ASSERT_TRUE((*cluster)->CreateTopic("fresh", kPartitions).ok());
  ProducerOptions po;
  po.brokers = (*cluster)->bootstrap();
  auto producer = Producer::Create(po, [](const DeliveryReport&) {});
  ASSERT_TRUE(producer.ok()) << producer.status();
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_TRUE((*producer)->Produce("fresh", absl::StrCat("k", i), absl::StrCat(i)).ok());
  }
  ASSERT_TRUE((*producer)->Flush(absl::Seconds(30)).ok());

  // librdkafka's "topic" debug lines say whether it resolved a logical offset.
  const log::Level level = log::MinLevel();
  ASSERT_TRUE(log::SetLevel("debug").ok());
  ::testing::internal::CaptureStdout();
  ConsumerOptions co;
  co.brokers = (*cluster)->bootstrap();
  co.group_id = "fresh-group";
  co.topics = {"fresh"};
  co.extra = {{"debug", "topic"}};
  const TopicPartition stored{"fresh", 0};
  auto consumer = Consumer::Create(
      co,
      [&](const std::vector<TopicPartition>&) {
        return std::map<TopicPartition, int64_t>{{stored, 2}};  // the others have none
      },
      nullptr);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  std::map<int32_t, std::vector<int64_t>> offsets;  // per partition, in order
  size_t received = 0;
  const bool all = WaitFor(
      [&] {
        auto batch = (*consumer)->Poll(100, absl::Milliseconds(100));
        if (batch.ok()) {
          for (const Message& m : *batch) offsets[m.partition].push_back(m.offset);
          received += batch->size();
        }
        return received >= kMessages - 2;
      },
      absl::Seconds(30), absl::ZeroDuration());
  consumer->reset();
  const std::string out = ::testing::internal::GetCapturedStdout();
  ASSERT_TRUE(log::SetLevel(log::LevelName(level)).ok());

  ASSERT_TRUE(all) << "received " << received << " of " << kMessages - 2;
  EXPECT_EQ(received, static_cast<size_t>(kMessages - 2)) << "nothing skipped, nothing twice";
  for (const auto& [partition, seen] : offsets) {
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.front(), partition == stored.partition ? 2 : 0) << "partition " << partition;
    for (size_t i = 1; i < seen.size(); ++i) EXPECT_EQ(seen[i], seen[i - 1] + 1);
  }
  // Every start was absolute: librdkafka queried no logical offset.
  EXPECT_THAT(out, ::testing::HasSubstr("\"start_offsets_looked_up\":11"));
  EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("querying for logical offset")));
  EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("no current leader for partition")));
}

}  // namespace
}  // namespace iss::kafka
