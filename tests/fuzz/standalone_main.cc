// A stand-in for libFuzzer's main() so every fuzz target also builds with g++
// and runs in CI as a smoke test: it feeds each file of the corpus directories,
// then `--runs=N` deterministic mutations of them (bit flips, byte
// insertions/deletions, splices). Crashes and sanitizer reports fail the test
// exactly as under libFuzzer; the real fuzzing runs use the `fuzz` preset.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::string Mutate(std::string s, const std::vector<std::string>& pool, std::mt19937_64& rng) {
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    switch (rng() % 5) {
      case 0:
        if (!s.empty()) s[rng() % s.size()] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 1:
        s.insert(s.begin() + static_cast<long>(s.empty() ? 0 : rng() % (s.size() + 1)),
                 static_cast<char>(rng() % 256));
        break;
      case 2:
        if (!s.empty()) s.erase(rng() % s.size(), 1 + rng() % 8);
        break;
      case 3: {  // splice a piece of another input
        const std::string& o = pool[rng() % pool.size()];
        if (!o.empty()) {
          const size_t from = rng() % o.size();
          s.insert(s.empty() ? 0 : rng() % s.size(), o.substr(from, 1 + rng() % 16));
        }
        break;
      }
      case 4:  // interesting bytes
        if (!s.empty()) {
          static const char kBytes[] = {'\0', '\n', '\r', '|', ',', '"', '%', '#', '$', '^', '\xff'};
          s[rng() % s.size()] = kBytes[rng() % sizeof(kBytes)];
        }
        break;
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  long runs = 0;
  std::vector<std::string> pool;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--runs=", 7) == 0) {
      runs = std::atol(argv[i] + 7);
      continue;
    }
    const std::filesystem::path p(argv[i]);
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(p)) {
      for (const auto& f : std::filesystem::directory_iterator(p)) files.push_back(f.path());
    } else {
      files.push_back(p);
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      pool.push_back(ss.str());
    }
  }
  if (pool.empty()) pool.push_back("");
  for (const auto& input : pool) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  }
  std::mt19937_64 rng(0x155);
  for (long r = 0; r < runs; ++r) {
    const std::string input = Mutate(pool[rng() % pool.size()], pool, rng);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  }
  std::printf("fuzz smoke: %zu corpus inputs + %ld mutations, no crash\n", pool.size(), runs);
  return 0;
}
