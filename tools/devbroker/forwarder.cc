#include "tools/devbroker/forwarder.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/net.h"

namespace iss::devbroker {
namespace {

absl::StatusOr<sockaddr_storage> Resolve(const std::string& host_port, socklen_t* len) {
  const absl::StatusOr<net::HostPort> hp = net::ParseHostPort(host_port);
  if (!hp.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", host_port, "\": ", hp.status().message()));
  }
  const std::string port = std::to_string(hp->port);
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(hp->host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat("\"", host_port, "\": ", gai_strerror(rc)));
  }
  sockaddr_storage addr{};
  std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return addr;
}

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// Writes all of buf; false when the peer is gone.
bool WriteAll(int fd, const char* buf, size_t n) {
  while (n > 0) {
    const ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    buf += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpForwarder>> TcpForwarder::Start(const std::string& listen,
                                                                  const std::string& target) {
  auto f = Listen(listen);
  if (!f.ok()) return f.status();
  if (absl::Status s = (*f)->Serve(target); !s.ok()) return s;
  return f;
}

absl::StatusOr<std::unique_ptr<TcpForwarder>> TcpForwarder::Listen(const std::string& listen) {
  std::unique_ptr<TcpForwarder> f(new TcpForwarder());
  socklen_t len = 0;
  auto addr = Resolve(listen, &len);
  if (!addr.ok()) return addr.status();
  if (pipe2(f->wake_, O_CLOEXEC) != 0) return Errno("pipe");
  f->listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (f->listen_fd_ < 0) return Errno("socket");
  const int one = 1;
  setsockopt(f->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(f->listen_fd_, reinterpret_cast<sockaddr*>(&*addr), len) != 0) {
    return Errno(absl::StrCat("bind ", listen));
  }
  if (::listen(f->listen_fd_, 64) != 0) return Errno(absl::StrCat("listen ", listen));
  sockaddr_in bound{};
  socklen_t bound_len = sizeof(bound);
  getsockname(f->listen_fd_, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  f->port_ = ntohs(bound.sin_port);
  return f;
}

absl::Status TcpForwarder::Serve(const std::string& target,
                                 std::shared_ptr<const AdvertisedBrokers> advertised) {
  if (acceptor_.joinable()) return absl::FailedPreconditionError("already serving");
  socklen_t target_len = 0;
  if (auto t = Resolve(target, &target_len); !t.ok()) return t.status();
  target_ = target;
  advertised_ = std::move(advertised);
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return absl::OkStatus();
}

TcpForwarder::~TcpForwarder() {
  if (wake_[1] >= 0) {
    const char c = 'x';
    (void)!write(wake_[1], &c, 1);  // level-triggered: every poller sees it
  }
  if (acceptor_.joinable()) acceptor_.join();
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* active) { return *active == 0; }, &active_relays_));
  }
  for (int fd : {listen_fd_, wake_[0], wake_[1]}) {
    if (fd >= 0) close(fd);
  }
}

void TcpForwarder::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    socklen_t len = 0;
    auto target = Resolve(target_, &len);
    const int upstream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (!target.ok() || upstream < 0 ||
        connect(upstream, reinterpret_cast<sockaddr*>(&*target), len) != 0) {
      log::Warn("devbroker: cannot reach the mock broker", {{"target", target_}});
      close(client);
      if (upstream >= 0) close(upstream);
      continue;
    }
    const int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    connections_.fetch_add(1);
    absl::MutexLock lock(&mu_);
    ++active_relays_;
    std::thread([this, client, upstream] { Relay(client, upstream); }).detach();
  }
}

// Copies both directions until either side closes or shutdown. With
// advertised addresses every byte passes through the rewriter (whole Kafka
// frames, broker addresses replaced); without, bytes go on as read.
void TcpForwarder::Relay(int client, int upstream) {
  std::optional<AddressRewriter> rewriter;
  if (advertised_) rewriter.emplace(advertised_);
  char buf[64 * 1024];
  std::string out;
  for (;;) {
    pollfd fds[3] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[2].revents) break;
    bool open = true;
    for (int i = 0; i < 2 && open; ++i) {
      if (!fds[i].revents) continue;
      const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        open = false;
        break;
      }
      std::string_view bytes(buf, static_cast<size_t>(n));
      if (rewriter) {
        out.clear();
        const absl::Status s =
            i == 0 ? rewriter->FromClient(bytes, &out) : rewriter->FromBroker(bytes, &out);
        if (!s.ok()) {  // never pass on what could not be rewritten
          log::Warn("devbroker: closing a connection", {{"error", std::string(s.message())}});
          open = false;
          break;
        }
        bytes = out;
      }
      open = WriteAll(i == 0 ? upstream : client, bytes.data(), bytes.size());
    }
    if (!open) break;
  }
  close(client);
  close(upstream);
  absl::MutexLock lock(&mu_);
  --active_relays_;  // last touch of `this`: the destructor may proceed
}

}  // namespace iss::devbroker
