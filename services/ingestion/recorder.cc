#include "services/ingestion/recorder.h"

#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log.h"
#include "common/metrics.h"
#include "services/ingestion/replay_format.h"

namespace iss::ingest {
namespace {

struct Metrics {
  prometheus::Counter& written =
      iss::metrics::Counter("iss_ingest_record_updates_total",
                            "Updates written to the recording (ISS_INGEST_RECORD_DIR)");
  prometheus::Counter& dropped = iss::metrics::Counter(
      "iss_ingest_record_dropped_total",
      "Updates not recorded: the recorder's queue was full or the write failed (the feed is "
      "never slowed for the recording)");
  prometheus::Counter& bytes = iss::metrics::Counter(
      "iss_ingest_record_bytes_total", "Bytes of replay lines written, before compression");
  prometheus::Counter& files =
      iss::metrics::Counter("iss_ingest_record_files_total", "Recording files started");
  prometheus::Counter& deleted = iss::metrics::Counter(
      "iss_ingest_record_files_deleted_total",
      "Old recording files deleted to keep the directory under ISS_INGEST_RECORD_MAX_TOTAL_BYTES");
  prometheus::Counter& errors = iss::metrics::Counter("iss_ingest_record_write_errors_total",
                                                      "Failed opens and writes of recording files");
  prometheus::Gauge& depth = iss::metrics::Gauge("iss_ingest_record_queue_depth",
                                                 "Updates waiting for the recorder's writer");
};

Metrics& M() {
  static auto* m = new Metrics();
  return *m;
}

constexpr char kPrefix[] = "rec-";

bool IsRecording(const std::string& name) {
  return absl::StartsWith(name, kPrefix) &&
         (absl::EndsWith(name, ".jsonl") || absl::EndsWith(name, ".jsonl.gz"));
}

}  // namespace

// A plain or gzip file, written the same way.
class Recorder::Output {
 public:
  static std::unique_ptr<Output> Open(const std::string& path, bool gzip) {
    auto o = std::unique_ptr<Output>(new Output());
    if (gzip) {
      o->gz_ = gzopen(path.c_str(), "wb6");
      if (o->gz_ == nullptr) return nullptr;
      gzbuffer(o->gz_, 128 * 1024);
    } else {
      o->f_ = std::fopen(path.c_str(), "wb");
      if (o->f_ == nullptr) return nullptr;
    }
    return o;
  }
  ~Output() { Close(); }
  bool Write(const std::string& data) {
    if (gz_ != nullptr) {
      return gzwrite(gz_, data.data(), static_cast<unsigned>(data.size())) ==
             static_cast<int>(data.size());
    }
    return std::fwrite(data.data(), 1, data.size(), f_) == data.size();
  }
  // Makes what was written readable by a reader of the file now.
  bool Flush() {
    if (gz_ != nullptr) return gzflush(gz_, Z_SYNC_FLUSH) == Z_OK;
    return std::fflush(f_) == 0;
  }
  bool Close() {
    bool ok = true;
    if (gz_ != nullptr) ok = gzclose(gz_) == Z_OK;
    if (f_ != nullptr) ok = std::fclose(f_) == 0;
    gz_ = nullptr;
    f_ = nullptr;
    return ok;
  }

 private:
  Output() = default;
  std::FILE* f_ = nullptr;
  gzFile gz_ = nullptr;
};

Recorder::Recorder(RecorderOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Recorder>> Recorder::Start(RecorderOptions options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("recording directory: empty");
  // mkdir -p, one level at a time.
  for (size_t slash = 1; slash != std::string::npos;) {
    slash = options.dir.find('/', slash + 1);
    const std::string part = options.dir.substr(0, slash);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(
          absl::StrCat("recording directory ", options.dir, ": ", std::strerror(errno)));
    }
  }
  struct stat st;
  if (::stat(options.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("recording directory ", options.dir, ": not a directory"));
  }
  if (::access(options.dir.c_str(), W_OK | X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("recording directory ", options.dir, ": ", std::strerror(errno)));
  }
  auto r = std::unique_ptr<Recorder>(new Recorder(std::move(options)));
  {
    absl::MutexLock lock(&r->mu_);
    r->pending_.reserve(std::min<size_t>(r->options_.queue_capacity, 4096));
  }
  r->thread_ = std::thread([p = r.get()] { p->Run(); });
  return r;
}

Recorder::~Recorder() { Stop(); }

bool Recorder::Offer(const RawUpdate& u) {
  // Full (or stopped): not recorded, and nothing waits.
  if (queued_.load(std::memory_order_relaxed) >= options_.queue_capacity) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    M().dropped.Increment();
    return false;
  }
  // What a replay line holds; not the raw protocol line.
  RawUpdate e;
  e.item_id = u.item_id;
  e.value = u.value;
  e.timestamp = u.timestamp;
  e.status_class = u.status_class;
  e.status_indicator = u.status_indicator;
  e.status_color = u.status_color;
  e.calibrated_data = u.calibrated_data;
  e.received_at = u.received_at;
  e.snapshot = u.snapshot;
  absl::MutexLock lock(&mu_);
  if (stop_ || pending_.size() >= options_.queue_capacity) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    M().dropped.Increment();
    return false;
  }
  pending_.push_back(std::move(e));
  queued_.store(pending_.size(), std::memory_order_relaxed);
  return true;
}

void Recorder::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

Recorder::Stats Recorder::stats() const {
  return Stats{written_.load(), dropped_.load(), files_.load(), write_errors_.load()};
}

std::string Recorder::current_file() const {
  absl::MutexLock lock(&path_mu_);
  return current_;
}

void Recorder::Run() {
  // The writer yields the CPU to the live path (Linux: a thread's own nice
  // value): on a saturated core the feed keeps its pace and the recording
  // falls behind, then drops (counted), instead of the other way round.
  if (options_.writer_nice > 0) {
    (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)),
                        options_.writer_nice);
  }
  std::vector<RawUpdate> batch;
  batch.reserve(std::min<size_t>(options_.queue_capacity, 4096));
  for (;;) {
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      // Wake for a batch every write_interval (or when the queue is half full,
      // or to stop), not for every update: few syscalls, real batches.
      const size_t half = std::max<size_t>(1, options_.queue_capacity / 2);
      auto ready = [this, half]()
                       ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_ || pending_.size() >= half; };
      mu_.AwaitWithTimeout(absl::Condition(&ready), options_.write_interval);
      batch.swap(pending_);
      queued_.store(0, std::memory_order_relaxed);
      stopping = stop_;
    }
    M().depth.Set(0);
    Write(batch);
    batch.clear();
    const absl::Time now = absl::Now();
    if (out_ && now - file_opened_ >= options_.max_file_age) CloseFile();
    if (out_ && now - last_flush_ >= absl::Seconds(1)) {
      if (!out_->Flush()) {
        write_errors_.fetch_add(1);
        M().errors.Increment();
      }
      last_flush_ = now;
    }
    if (stopping) break;
  }
  CloseFile();
}

void Recorder::Failed(const char* what) {
  const int err = errno;
  write_errors_.fetch_add(1);
  M().errors.Increment();
  // A full disk fails every batch: the log says so twice a minute at most.
  static auto* limiter = new iss::log::RateLimiter(absl::Seconds(30));
  int64_t suppressed = 0;
  if (limiter->Allow(what, &suppressed)) {
    iss::log::Error(what,
                    {{"file", path_}, {"error", std::strerror(err)}, {"suppressed", suppressed}});
  }
}

bool Recorder::OpenFile(absl::Time now) {
  const std::string stamp = absl::FormatTime("%Y%m%dT%H%M%E6SZ", now, absl::UTCTimeZone());
  path_ = absl::StrCat(options_.dir, "/", kPrefix, stamp, absl::StrFormat("-%04d", ++sequence_),
                       options_.gzip ? ".jsonl.gz" : ".jsonl");
  out_ = Output::Open(path_, options_.gzip);
  if (!out_) {
    Failed("cannot open recording file");
    return false;
  }
  file_bytes_ = 0;
  file_opened_ = now;
  last_flush_ = now;
  files_.fetch_add(1);
  M().files.Increment();
  const std::string header = absl::StrCat(
      "# iss-ingestion recording started ",
      absl::FormatTime(absl::RFC3339_full, now, absl::UTCTimeZone()),
      ": replay with ISS_INGEST_SOURCE=replay ISS_INGEST_REPLAY_FILE=<this file or its "
      "directory>\n");
  (void)out_->Write(header);
  {
    absl::MutexLock lock(&path_mu_);
    current_ = path_;
  }
  iss::log::Info("recording to", {{"file", path_}});
  return true;
}

void Recorder::CloseFile() {
  if (!out_) return;
  if (!out_->Close()) {
    write_errors_.fetch_add(1);
    M().errors.Increment();
  }
  out_.reset();
  {
    absl::MutexLock lock(&path_mu_);
    current_.clear();
  }
  EnforceTotalBound();
}

void Recorder::Write(const std::vector<RawUpdate>& batch) {
  if (batch.empty()) return;
  std::string lines;
  size_t i = 0;
  while (i < batch.size()) {
    if (!out_ && !OpenFile(absl::Now())) break;
    // Up to the file's size bound, as one write.
    lines.clear();
    size_t n = 0;
    for (; i < batch.size() &&
           file_bytes_ + static_cast<int64_t>(lines.size()) < options_.max_file_bytes;
         ++i, ++n) {
      AppendReplayLine(lines, batch[i]);
      lines.push_back('\n');
    }
    if (!out_->Write(lines)) {
      Failed("cannot write recording file");
      dropped_.fetch_add(n);
      M().dropped.Increment(static_cast<double>(n));
      CloseFile();  // the next batch tries a new file
      continue;
    }
    file_bytes_ += static_cast<int64_t>(lines.size());
    written_.fetch_add(n);
    M().written.Increment(static_cast<double>(n));
    M().bytes.Increment(static_cast<double>(lines.size()));
    if (file_bytes_ >= options_.max_file_bytes) CloseFile();
  }
  // Whatever could not be written (no file could be opened) is dropped.
  if (i < batch.size()) {
    dropped_.fetch_add(batch.size() - i);
    M().dropped.Increment(static_cast<double>(batch.size() - i));
  }
}

void Recorder::EnforceTotalBound() {
  if (options_.max_total_bytes <= 0) return;
  DIR* dir = ::opendir(options_.dir.c_str());
  if (dir == nullptr) return;
  std::vector<std::pair<std::string, int64_t>> files;  // name order = age order
  int64_t total = 0;
  while (const dirent* e = ::readdir(dir)) {
    const std::string name = e->d_name;
    if (!IsRecording(name)) continue;
    struct stat st;
    const std::string path = absl::StrCat(options_.dir, "/", name);
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    files.emplace_back(path, st.st_size);
    total += st.st_size;
  }
  ::closedir(dir);
  std::sort(files.begin(), files.end());
  for (const auto& [path, size] : files) {
    if (total <= options_.max_total_bytes) break;
    if (out_ && path == path_) continue;  // never the file being written
    if (::unlink(path.c_str()) == 0) {
      total -= size;
      M().deleted.Increment();
      iss::log::Info("deleted old recording", {{"file", path}, {"bytes", size}});
    }
  }
}

}  // namespace iss::ingest
