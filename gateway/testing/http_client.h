// Owns: a tiny blocking HTTP/1.1 client over real sockets for gateway tests
// (Boost.Beast), plus raw-bytes and Server-Sent-Events readers for the cases
// a well-behaved client cannot express (pipelining, malformed requests).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/support/http_client.h"

namespace iss::gateway::testing {

// The tests' one HTTP client (tests/support/http_client.h), under the names
// the gateway tests use.
using iss::testing::HttpCall;
using iss::testing::HttpResponse;

// Writes `bytes` as is, then parses up to `max_responses` responses until
// the server closes or `timeout` passes.
std::vector<HttpResponse> RawExchange(int port, const std::string& bytes, int max_responses,
                                      absl::Duration timeout = absl::Seconds(10));

// An open connection that writes raw bytes and reads what comes back
// incrementally: for exchanges that happen in steps (Expect: 100-continue,
// a stream read as it arrives).
class RawConnection {
 public:
  explicit RawConnection(int port);
  virtual ~RawConnection();
  void Send(const std::string& bytes);
  // Everything received so far, reading more until `pred` holds on it, the
  // peer closes, or `timeout` passes.
  template <typename Pred>
  const std::string& ReadUntil(Pred pred, absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!pred(received_) && !closed_ && absl::Now() < deadline) ReadSome(deadline);
    return received_;
  }
  const std::string& received() const { return received_; }
  bool closed() const { return closed_; }
  void Close();  // client goes away

 private:
  void ReadSome(absl::Time deadline);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string received_;
  bool closed_ = false;
};

// An open SSE connection: a GET for `target`, then the stream read as it comes.
class SseClient : public RawConnection {
 public:
  SseClient(int port, const std::string& target,
            const std::vector<std::pair<std::string, std::string>>& headers = {});
  // The `data:` payloads received so far, in order (comments skipped).
  std::vector<std::string> DataLines() const;
};

}  // namespace iss::gateway::testing
