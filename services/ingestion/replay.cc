#include "services/ingestion/replay.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace iss::ingest {

ReplaySource::ReplaySource(ReplayOptions options, UpdateSink* sink, BadLineFn on_bad_line)
    : options_(std::move(options)), sink_(sink), on_bad_line_(std::move(on_bad_line)) {}

ReplaySource::~ReplaySource() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

void ReplaySource::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
}

absl::Status ReplaySource::Start() {
  auto fail = [this](int err, const std::string& what) {
    const std::string msg = absl::StrCat(what, " ", options_.path, ": ", std::strerror(err));
    return err == ENOENT   ? absl::NotFoundError(msg)
           : err == EACCES ? absl::PermissionDeniedError(msg)
                           : absl::FailedPreconditionError(msg);
  };
  struct stat st;
  if (::stat(options_.path.c_str(), &st) != 0) return fail(errno, "cannot open replay file");
  if (S_ISDIR(st.st_mode)) {
    DIR* dir = ::opendir(options_.path.c_str());
    if (dir == nullptr) return fail(errno, "cannot read replay directory");
    while (const dirent* e = ::readdir(dir)) {
      const std::string name = e->d_name;
      if (absl::EndsWith(name, ".jsonl") || absl::EndsWith(name, ".jsonl.gz")) {
        files_.push_back(absl::StrCat(options_.path, "/", name));
      }
    }
    ::closedir(dir);
    std::sort(files_.begin(), files_.end());
    if (files_.empty()) {
      return absl::NotFoundError(
          absl::StrCat("replay directory ", options_.path, " holds no .jsonl or .jsonl.gz file"));
    }
  } else {
    files_.push_back(options_.path);
  }
  for (const std::string& f : files_) {
    struct stat fs;
    if (::stat(f.c_str(), &fs) != 0) return fail(errno, "cannot open replay file");
    if (::access(f.c_str(), R_OK) != 0) return fail(errno, "cannot read replay file");
    total_bytes_ += fs.st_size;
  }
  draw_progress_ = options_.progress && ::isatty(STDERR_FILENO) == 1;
  started_ = absl::Now();
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void ReplaySource::Run() {
  for (const std::string& f : files_) {
    if (!ReplayFile(f)) break;
  }
  if (draw_progress_) DrawProgress(true);
  iss::log::Info("replay finished", {{"file", options_.path},
                                     {"files", static_cast<int64_t>(files_.size())},
                                     {"lines", lines_.load()},
                                     {"bad_lines", bad_lines_.load()},
                                     {"stopped", stop_.HasBeenNotified()}});
  done_.Notify();
}

bool ReplaySource::ReplayFile(const std::string& path) {
  // zlib reads a plain file through the same calls ("transparent" mode).
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    iss::log::Error("cannot open replay file", {{"file", path}, {"error", std::strerror(errno)}});
    return false;
  }
  gzbuffer(file, 128 * 1024);
  struct stat st;
  const int64_t size = ::stat(path.c_str(), &st) == 0 ? st.st_size : 0;
  std::string line;
  char chunk[16 * 1024];
  bool go_on = true;
  bool eof = false;
  while (go_on && !eof && !stop_.HasBeenNotified()) {
    // One whole line, however long (gzgets stops at the buffer's end too).
    line.clear();
    for (;;) {
      if (gzgets(file, chunk, sizeof(chunk)) == nullptr) {
        eof = true;
        break;
      }
      const size_t n = std::strlen(chunk);
      line.append(chunk, n);
      if (n > 0 && chunk[n - 1] == '\n') break;
    }
    bytes_ = done_bytes_ + gzoffset(file);
    std::string_view text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
      text.remove_suffix(1);
    }
    if (text.empty() || text.front() == '#') continue;
    ++lines_;
    absl::StatusOr<RawUpdate> u = ParseReplayLine(text, options_.source);
    if (!u.ok()) {
      ++bad_lines_;
      go_on = on_bad_line_(std::string(u.status().message()), text);
    } else {
      if (options_.speed > 0) {
        // Keep the recorded spacing between updates, scaled by speed.
        if (!have_base_) {
          have_base_ = true;
          base_recorded_ = u->received_at;
          base_wall_ = absl::Now();
        }
        const absl::Time due = base_wall_ + (u->received_at - base_recorded_) / options_.speed;
        const absl::Duration wait = due - absl::Now();
        if (wait > absl::ZeroDuration() && stop_.WaitForNotificationWithTimeout(wait)) break;
      }
      go_on = sink_->Deliver(*std::move(u));
    }
    if (draw_progress_) DrawProgress(false);
  }
  int err = Z_OK;
  const char* why = gzerror(file, &err);
  if (err != Z_OK && err != Z_STREAM_END) {
    // A gzip file cut short (its recorder was killed): what was there is replayed.
    iss::log::Warn("replay file ends early", {{"file", path}, {"error", std::string(why)}});
  }
  gzclose(file);
  done_bytes_ += size;
  bytes_ = done_bytes_;
  return go_on && !stop_.HasBeenNotified();
}

void ReplaySource::DrawProgress(bool final) {
  const absl::Time now = absl::Now();
  if (!final && now - last_draw_ < absl::Milliseconds(100)) return;
  last_draw_ = now;
  const double total = std::max<double>(1.0, static_cast<double>(total_bytes_.load()));
  const double frac = std::min(1.0, static_cast<double>(bytes_.load()) / total);
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(frac * kWidth);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(kWidth - filled), '.');
  const double secs = std::max(1e-3, absl::ToDoubleSeconds(now - started_));
  const std::string text = absl::StrCat(
      "\rreplay [", bar, "] ", static_cast<int>(frac * 100), "% ", lines_.load(), " lines, ",
      bad_lines_.load(), " bad, ", static_cast<int64_t>(static_cast<double>(lines_.load()) / secs),
      "/s", final ? "\n" : "");
  // Progress goes to the terminal on stderr; logs stay JSON on stdout.
  [[maybe_unused]] ssize_t w = ::write(STDERR_FILENO, text.data(), text.size());
}

ReplaySource::Progress ReplaySource::progress() const {
  return Progress{lines_.load(), bad_lines_.load(), bytes_.load(), total_bytes_.load(),
                  done_.HasBeenNotified()};
}

}  // namespace iss::ingest
