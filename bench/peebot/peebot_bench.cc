// Pee-Bot CPU costs: how many telemetry samples per second the detector
// handles (the whole feed is ~70 msg/s; the design target 10k msg/s), with and
// without the state snapshot the pipeline saves per batch, and what one post
// costs in signing and composing.
//
//   build/dev/bench/peebot/peebot_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include "services/peebot/composer.h"
#include "services/peebot/detector.h"
#include "services/peebot/oauth1.h"

namespace iss::peebot {
namespace {

// One hour of feed: the station clock at 1 Hz, the tank every 5 s with a fill
// every 10 minutes, processor state now and then.
std::vector<Sample> Hour() {
  std::vector<Sample> out;
  const absl::Time t0 = absl::FromUnixSeconds(1768046400);
  double level = 40;
  for (int s = 0; s < 3600; ++s) {
    Sample clock;
    clock.item_id = "TIME_000001";
    clock.source_ts = t0 + absl::Seconds(s);
    clock.ingest_ts = clock.source_ts + absl::Milliseconds(200);
    clock.value = "1";
    clock.status_class = "24";
    out.push_back(clock);
    if (s % 5 == 0) {
      const int in_cycle = s % 600;
      if (in_cycle < 30) level += 1;  // a +6 % fill
      Sample tank;
      tank.item_id = "NODE3000005";
      tank.source_ts = clock.source_ts;
      tank.ingest_ts = clock.ingest_ts;
      tank.value = std::to_string(static_cast<int>(level));
      out.push_back(tank);
    }
  }
  return out;
}

void BM_DetectorSamples(benchmark::State& state) {
  const std::vector<Sample> hour = Hour();
  int64_t detections = 0;
  for (auto _ : state) {
    Detector d(DetectorConfig{});
    std::vector<Detection> out;
    for (const Sample& s : hour) d.Add(s, &out);
    d.Drain(&out);
    detections += static_cast<int64_t>(out.size());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(hour.size()));
  state.counters["detections_per_hour"] =
      static_cast<double>(detections) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_DetectorSamples);

// As the pipeline runs it: a state snapshot after every batch of `range(0)`.
void BM_DetectorWithSnapshots(benchmark::State& state) {
  const std::vector<Sample> hour = Hour();
  const size_t batch = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    Detector d(DetectorConfig{});
    std::vector<Detection> out;
    for (size_t i = 0; i < hour.size(); ++i) {
      d.Add(hour[i], &out);
      if ((i + 1) % batch == 0) {
        d.Drain(&out);
        benchmark::DoNotOptimize(d.SaveState());
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(hour.size()));
}
BENCHMARK(BM_DetectorWithSnapshots)->Arg(10)->Arg(500);

void BM_OAuthSign(benchmark::State& state) {
  OAuth1Signer signer({"ck", "cs", "tk", "ts"});
  for (auto _ : state) {
    benchmark::DoNotOptimize(signer.AuthorizationHeader("POST", "https://api.x.com/2/tweets", {}));
  }
}
BENCHMARK(BM_OAuthSign);

void BM_ComposePost(benchmark::State& state) {
  PostComposer composer;
  Detection d;
  d.detection_id = "abc";
  d.start_time = absl::FromUnixSeconds(1768046400);
  d.rise = 5;
  d.volume_ml = 410;
  d.end_level = 55;
  std::string previous;
  int joke = 0;
  for (auto _ : state) {
    auto c = composer.Compose(d, 1, joke, previous);
    joke = c.joke_index + 1;
    previous = std::move(c.text);
  }
}
BENCHMARK(BM_ComposePost);

}  // namespace
}  // namespace iss::peebot

BENCHMARK_MAIN();
