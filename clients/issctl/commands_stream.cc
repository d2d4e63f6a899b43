// issctl's streaming commands (commands_internal.h): tail, with its status
// line and clean Ctrl-C, and export, writing replay lines to stdout, a file
// or a gzip file.
#include <pthread.h>
#include <signal.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "clients/issctl/commands_internal.h"
#include "clients/issctl/format.h"
#include "common/grpc_util.h"
#include "services/ingestion/replay_format.h"

namespace iss::issctl {
namespace {

// ---- tail ----

// The status line on stderr: redrawn in place ("\r" + erase to end of line),
// erased before each event is printed so stdout and stderr never mix on a
// shared terminal. Thread-safe (the ticker thread redraws it every second).
class ProgressLine {
 public:
  ProgressLine(std::ostream* err, bool enabled) : err_(err), enabled_(enabled) {}

  void Event(const std::string& item, const std::function<void()>& print) {
    absl::MutexLock lock(&mu_);
    ++events_;
    last_item_ = item;
    if (drawn_) Erase();
    print();
    const absl::Time now = absl::Now();
    if (enabled_ && (erased_ || now - last_draw_ >= absl::Milliseconds(200))) Draw(now);
  }
  void Tick() {
    absl::MutexLock lock(&mu_);
    if (enabled_) Draw(absl::Now());
  }
  // Leaves the final figures on their own line.
  void Finish() {
    absl::MutexLock lock(&mu_);
    if (!enabled_) return;
    Draw(absl::Now());
    *err_ << "\n";
    err_->flush();
  }
  uint64_t events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  void Erase() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    *err_ << "\r\x1b[K";
    err_->flush();
    drawn_ = false;
    erased_ = true;
  }
  void Draw(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    *err_ << "\r\x1b[K" << FormatProgress(events_, now - start_, last_item_);
    err_->flush();
    drawn_ = true;
    erased_ = false;
    last_draw_ = now;
  }

  std::ostream* const err_;
  const bool enabled_;
  const absl::Time start_ = absl::Now();
  absl::Mutex mu_;
  uint64_t events_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_item_ ABSL_GUARDED_BY(mu_);
  bool drawn_ ABSL_GUARDED_BY(mu_) = false;
  bool erased_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_draw_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// SIGINT/SIGTERM end the tail cleanly. The constructor blocks them in this
// thread before any gRPC object exists, so every thread gRPC starts later
// inherits the mask; Watch() starts a thread that waits for them with
// sigtimedwait and cancels the call, and on its 1 s timeout refreshes the
// status line. Stop() must run before the watched context is destroyed.
class Interrupts {
 public:
  explicit Interrupts(ProgressLine* progress) : progress_(progress) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGUSR1);  // our own "stop waiting"
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }
  ~Interrupts() { Stop(); }

  void Watch(grpc::ClientContext* ctx) {
    thread_ = std::thread([this, ctx] {
      const timespec tick{1, 0};
      for (;;) {
        const int sig = sigtimedwait(&set_, nullptr, &tick);
        if (sig == SIGUSR1) return;
        if (sig == SIGINT || sig == SIGTERM) {
          interrupted_ = true;
          ctx->TryCancel();
          return;
        }
        progress_->Tick();
      }
    });
  }
  // Ends the watcher thread. Signals stay blocked: the process is about to end.
  void Stop() {
    if (!thread_.joinable()) return;
    if (!interrupted_) pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
  }
  bool interrupted() const { return interrupted_; }

 private:
  ProgressLine* const progress_;
  sigset_t set_;
  std::atomic<bool> interrupted_{false};
  std::thread thread_;
};

// ---- export ----

absl::Status ExportSinkWriteError(const Invocation& inv) {
  return absl::UnknownError(absl::StrCat("--out ", inv.out_path, ": write failed"));
}

// Where the replay lines go: stdout, a file, or a gzip file (name ends .gz).
class ExportSink {
 public:
  static absl::StatusOr<std::unique_ptr<ExportSink>> Open(const std::string& path,
                                                          std::ostream* stdout_stream) {
    auto s = std::unique_ptr<ExportSink>(new ExportSink());
    if (path == "-") {
      s->stream_ = stdout_stream;
    } else if (absl::EndsWith(path, ".gz")) {
      s->gz_ = gzopen(path.c_str(), "wb6");
      if (s->gz_ == nullptr) return Cannot(path);
    } else {
      s->file_.open(path, std::ios::binary | std::ios::trunc);
      if (!s->file_) return Cannot(path);
      s->stream_ = &s->file_;
    }
    s->path_ = path;
    return s;
  }
  ~ExportSink() { (void)Close(); }
  bool Write(const std::string& data) {
    if (gz_ != nullptr) {
      return gzwrite(gz_, data.data(), static_cast<unsigned>(data.size())) ==
             static_cast<int>(data.size());
    }
    stream_->write(data.data(), static_cast<std::streamsize>(data.size()));
    return static_cast<bool>(*stream_);
  }
  absl::Status Close() {
    bool ok = true;
    if (gz_ != nullptr) ok = gzclose(gz_) == Z_OK;
    gz_ = nullptr;
    if (stream_ != nullptr) {
      stream_->flush();
      ok = ok && static_cast<bool>(*stream_);
      if (file_.is_open()) file_.close();
      stream_ = nullptr;
    }
    return ok ? absl::OkStatus() : Cannot(path_).status();
  }

 private:
  ExportSink() = default;
  static absl::StatusOr<std::unique_ptr<ExportSink>> Cannot(const std::string& path) {
    // A local failure: "other error" (exit 1), naming the flag and the file.
    return absl::UnknownError(absl::StrCat("--out ", path, ": ", std::strerror(errno)));
  }
  std::string path_;
  std::ostream* stream_ = nullptr;
  std::ofstream file_;
  gzFile gz_ = nullptr;
};

}  // namespace

absl::Status RunTail(const Invocation& inv, const Io& io) {
  ProgressLine progress(io.err, inv.progress.value_or(io.err_is_tty));
  Interrupts interrupts(&progress);  // first: before any gRPC thread exists
  grpc::ClientContext ctx;
  interrupts.Watch(&ctx);
  const bool bounded = inv.duration != absl::InfiniteDuration();
  auto channel = MakeChannel(inv.addr);
  // The stream's deadline is --duration, and running out of it is success, so
  // a server that never answers must be told apart first (within --timeout).
  if (bounded && !channel->WaitForConnected(absl::ToChronoTime(absl::Now() + inv.timeout))) {
    return absl::UnavailableError(
        absl::StrCat("no connection within ", absl::FormatDuration(inv.timeout)));
  }
  if (bounded) ctx.set_deadline(absl::ToChronoTime(absl::Now() + inv.duration));
  auto stub = sv1::StorageService::NewStub(channel);
  sv1::TailRequest req;
  for (const auto& id : inv.items) req.add_item_ids(id);
  auto reader = stub->Tail(&ctx, req);
  TelemetryEvent e;
  bool reached_count = false;
  while (reader->Read(&e)) {
    const bool first = progress.events() == 0;
    progress.Event(e.item_id(), [&] {
      if (first && !inv.json) *io.out << EventHeader();
      *io.out << (inv.json ? JsonLine(e) : EventRow(e));
      io.out->flush();
    });
    if (inv.max_events > 0 && progress.events() >= static_cast<uint64_t>(inv.max_events)) {
      reached_count = true;
      ctx.TryCancel();
      break;
    }
  }
  const grpc::Status s = reader->Finish();
  interrupts.Stop();
  progress.Finish();
  if (s.ok()) return absl::OkStatus();
  // Our own ends: Ctrl-C, --count reached, --duration over.
  if (s.error_code() == grpc::StatusCode::CANCELLED &&
      (reached_count || interrupts.interrupted())) {
    return absl::OkStatus();
  }
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && bounded) return absl::OkStatus();
  return Check(s);
}

// StorageService.Replay over the window, each event written back as the
// update that produced it (services/ingestion/replay_format.h): TimeStamp
// from source_ts (the same event_id when replayed), received_at from
// received_ts. A progress bar on a terminal; a summary line either way.
absl::Status RunExport(const Invocation& inv, const Io& io) {
  auto sink = ExportSink::Open(inv.out_path, io.out);
  if (!sink.ok()) return sink.status();
  const bool bar = inv.progress.value_or(io.err_is_tty);
  auto channel = MakeChannel(inv.addr);
  // A stream has no deadline; a server that never answers is told apart first.
  if (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + inv.timeout))) {
    return absl::UnavailableError(
        absl::StrCat("no connection within ", absl::FormatDuration(inv.timeout)));
  }
  auto stub = sv1::StorageService::NewStub(channel);
  sv1::ReplayRequest req;
  for (const auto& id : inv.items) req.add_item_ids(id);
  iss::ToProto(inv.window.from, req.mutable_start_time());
  iss::ToProto(inv.window.to, req.mutable_end_time());
  grpc::ClientContext ctx;
  auto reader = stub->Replay(&ctx, req);

  const absl::Time started = absl::Now();
  const std::string header = absl::StrCat(
      "# issctl export from storage at ", inv.addr, ": ",
      inv.items.empty() ? "every item" : absl::StrJoin(inv.items, ","), ", source_ts in [",
      iss::FormatRfc3339Micros(inv.window.from), ", ", iss::FormatRfc3339Micros(inv.window.to),
      "), exported ", iss::FormatRfc3339Micros(started),
      ". Replay: ISS_INGEST_SOURCE=replay ISS_INGEST_REPLAY_FILE=<this file>\n");
  if (!(*sink)->Write(header)) {
    ctx.TryCancel();
    (void)reader->Finish();
    return (*sink)->Close();
  }
  const double window_s = absl::ToDoubleSeconds(inv.window.to - inv.window.from);
  uint64_t events = 0;
  absl::Time at = absl::InfinitePast();
  absl::Time last_draw = absl::InfinitePast();
  auto draw = [&](bool final) {
    const double frac =
        final ? 1.0 : absl::ToDoubleSeconds(at - inv.window.from) / std::max(window_s, 1e-6);
    *io.err << "\r\x1b[K" << FormatExportProgress(events, frac, at) << (final ? "\n" : "");
    io.err->flush();
  };
  TelemetryEvent e;
  std::string line;
  bool write_failed = false;
  while (reader->Read(&e)) {
    line.clear();
    iss::ingest::AppendReplayLine(line, iss::ingest::UpdateFromEvent(e));
    line.push_back('\n');
    if (!(*sink)->Write(line)) {
      write_failed = true;
      ctx.TryCancel();
      break;
    }
    ++events;
    at = iss::FromProto(e.source_ts());
    if (bar) {
      const absl::Time now = absl::Now();
      if (now - last_draw >= absl::Milliseconds(100)) {
        draw(false);
        last_draw = now;
      }
    }
  }
  const grpc::Status s = reader->Finish();
  const absl::Status closed = (*sink)->Close();
  if (write_failed || !closed.ok()) return closed.ok() ? ExportSinkWriteError(inv) : closed;
  if (!s.ok()) {
    if (bar) *io.err << "\n";
    return Check(s);
  }
  if (bar) draw(true);
  *io.err << "exported " << events << " events to "
          << (inv.out_path == "-" ? std::string("stdout") : inv.out_path) << " in "
          << absl::FormatDuration(absl::Trunc(absl::Now() - started, absl::Milliseconds(1)))
          << "\n";
  io.err->flush();
  return absl::OkStatus();
}

}  // namespace iss::issctl
