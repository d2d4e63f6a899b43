// Owns: one headless Chromium process for browser tests, driven over the
// DevTools protocol. `--dump-dom` cannot wait for a page that keeps a stream
// open (an SSE tail, a Lightstreamer session: virtual time never runs out), so
// tests read the live page with Evaluate() and poll it with WaitFor.
//
// The browser runs in its own process group with a throwaway profile; the
// destructor kills the group and removes the profile.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "nlohmann/json.hpp"

namespace iss::testing {

class Chromium {
 public:
  // The Debian package's binary (or another Chromium), "" when none is installed.
  static std::string Find();

  // Starts `binary` headless on `url`; window size as "W,H".
  Chromium(const std::string& binary, const std::string& url,
           const std::string& window_size = "1280,800");
  ~Chromium();
  Chromium(const Chromium&) = delete;
  Chromium& operator=(const Chromium&) = delete;

  // True once the DevTools port is known.
  bool started() const { return devtools_port_ > 0; }
  // What the browser wrote to stderr (for failure messages).
  std::string Log() const;

  // Sends one DevTools command to the page and returns its `result` (null on failure).
  nlohmann::json Call(const std::string& method, nlohmann::json params);
  // Evaluates a JavaScript expression in the page; its value (null on failure).
  nlohmann::json Evaluate(const std::string& expression);
  // The page's current DOM as HTML ("" if the page is not reachable yet).
  std::string Dom();
  // Writes a PNG of the page (for people debugging a failure).
  bool Screenshot(const std::string& path);

 private:
  bool Connect();

  struct Socket;  // the DevTools WebSocket (Beast), kept out of this header
  std::string dir_;
  pid_t pid_ = -1;
  int devtools_port_ = 0;
  int id_ = 0;
  std::unique_ptr<Socket> ws_;
};

}  // namespace iss::testing
