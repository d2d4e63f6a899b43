// A stand-in for libFuzzer's main() so every fuzz target also builds with g++
// and runs in CI as a smoke test: it feeds each file of the corpus directories,
// then `--runs=N` deterministic mutations of them (bit flips, byte
// insertions/deletions, splices). Crashes and sanitizer reports fail the test
// exactly as under libFuzzer; the real fuzzing runs use the `fuzz` preset.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
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

// The input being run, so a crash can be saved for replay (`<target> FILE`).
const std::string* g_current = nullptr;

void SaveCrashingInput(int sig) {
  // Only async-signal-safe calls here.
  static const char kMsg[] = "fuzz smoke: crashed; input saved to ./fuzz-crash-input\n";
  const int fd = ::open("fuzz-crash-input", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0 && g_current != nullptr) {
    (void)!::write(fd, g_current->data(), g_current->size());
    ::close(fd);
  }
  (void)!::write(2, kMsg, sizeof(kMsg) - 1);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void Run(const std::string& input) {
  g_current = &input;
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  g_current = nullptr;
}

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
          static const char kBytes[] = {'\0', '\n', '\r', '|', ',',   '"',
                                        '%',  '#',  '$',  '^', '\xff'};
          s[rng() % s.size()] = kBytes[rng() % sizeof(kBytes)];
        }
        break;
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  for (int sig : {SIGILL, SIGSEGV, SIGABRT, SIGFPE, SIGBUS}) std::signal(sig, SaveCrashingInput);
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
  for (const auto& input : pool) Run(input);
  std::mt19937_64 rng(0x155);
  for (long r = 0; r < runs; ++r) {
    Run(Mutate(pool[rng() % pool.size()], pool, rng));
  }
  std::printf("fuzz smoke: %zu corpus inputs + %ld mutations, no crash\n", pool.size(), runs);
  return 0;
}
