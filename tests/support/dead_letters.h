// What every dead letter on a DLQ topic carries, whichever service wrote it
// (bus::Consumer in storage and Pee-Bot): checked once here for the tests.
#pragma once

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "iss/telemetry/v1/telemetry.pb.h"
#include "tests/support/kafka_cluster.h"

namespace iss::testing {

// Parses each record as an iss.telemetry.v1.DeadLetter and expects the
// rejecting `component`, the `source_topic`, the raw input, a detail, and the
// reason and component in the headers. Returns the reasons seen.
inline std::set<std::string> DeadLetterReasons(const std::vector<KafkaCluster::Record>& records,
                                               const std::string& component,
                                               const std::string& source_topic) {
  std::set<std::string> reasons;
  for (const auto& r : records) {
    iss::telemetry::v1::DeadLetter dl;
    EXPECT_TRUE(dl.ParseFromString(r.value));
    reasons.insert(dl.reason());
    EXPECT_EQ(dl.component(), component);
    EXPECT_EQ(dl.source_topic(), source_topic);
    EXPECT_FALSE(dl.raw().empty());
    EXPECT_FALSE(dl.detail().empty());
    const std::vector<std::pair<std::string, std::string>> want = {
        {"iss.dlq.reason", dl.reason()}, {"iss.dlq.component", component}};
    EXPECT_EQ(r.headers, want);
  }
  return reasons;
}

}  // namespace iss::testing
