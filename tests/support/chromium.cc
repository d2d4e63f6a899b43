#include <utility>  // before any Asio header

#include "tests/support/chromium.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "boost/asio.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/websocket.hpp"
#include "gtest/gtest.h"
#include "tests/support/wait.h"

extern "C" char** environ;

namespace iss::testing {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// GET http://127.0.0.1:port/target -> body ("" on any error).
std::string HttpGet(int port, const std::string& target) {
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  stream.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)},
                 ec);
  if (ec) return "";
  http::request<http::empty_body> req(http::verb::get, target, 11);
  req.set(http::field::host, absl::StrCat("127.0.0.1:", port));
  http::write(stream, req, ec);
  if (ec) return "";
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(stream, buf, res, ec);
  return ec ? "" : res.body();
}

}  // namespace

struct Chromium::Socket {
  boost::asio::io_context ioc;
  beast::websocket::stream<tcp::socket> ws{ioc};
};

std::string Chromium::Find() {
  for (const char* p :
       {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}) {
    if (std::filesystem::exists(p)) return p;
  }
  return "";
}

Chromium::Chromium(const std::string& binary, const std::string& url,
                   const std::string& window_size) {
  static int instance = 0;
  dir_ = absl::StrCat(::testing::TempDir(), "/chromium-", getpid(), "-", ++instance);
  std::filesystem::create_directories(dir_);
  const std::string log = dir_ + "/stderr.log";
  std::vector<std::string> args = {binary,
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--no-first-run",
                                   "--disable-background-networking",
                                   "--disable-dev-shm-usage",
                                   "--remote-debugging-port=0",
                                   "--window-size=" + window_size,
                                   "--user-data-dir=" + dir_ + "/profile",
                                   url};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // its own group: we stop all of it
  posix_spawnattr_setpgroup(&attr, 0);
  if (posix_spawn(&pid_, binary.c_str(), &fa, &attr, argv.data(), environ) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (pid_ <= 0) return;
  // Chromium prints "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/...".
  static const std::regex re(R"(DevTools listening on ws://127\.0\.0\.1:(\d+)/)");
  WaitFor(
      [&] {
        std::smatch m;
        const std::string text = ReadFile(log);
        if (!std::regex_search(text, m, re)) return false;
        devtools_port_ = std::stoi(m[1]);
        return true;
      },
      absl::Seconds(30), absl::Milliseconds(20));
}

Chromium::~Chromium() {
  ws_.reset();
  if (pid_ > 0) {
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string Chromium::Log() const { return ReadFile(dir_ + "/stderr.log"); }

nlohmann::json Chromium::Call(const std::string& method, nlohmann::json params) {
  if (!ws_ && !Connect()) return nullptr;
  nlohmann::json req = {{"id", ++id_}, {"method", method}, {"params", std::move(params)}};
  beast::error_code ec;
  ws_->ws.write(boost::asio::buffer(req.dump()), ec);
  while (!ec) {
    beast::flat_buffer buf;
    ws_->ws.read(buf, ec);
    if (ec) break;
    auto j = nlohmann::json::parse(beast::buffers_to_string(buf.data()), nullptr, false);
    if (j.is_object() && j.value("id", 0) == id_) return j.value("result", nlohmann::json());
  }
  ws_.reset();
  return nullptr;
}

nlohmann::json Chromium::Evaluate(const std::string& expression) {
  nlohmann::json r =
      Call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}});
  if (!r.is_object() || !r.contains("result")) return nullptr;
  return r["result"].value("value", nlohmann::json());
}

std::string Chromium::Dom() {
  nlohmann::json v = Evaluate("document.documentElement.outerHTML");
  return v.is_string() ? v.get<std::string>() : "";
}

bool Chromium::Screenshot(const std::string& path) {
  nlohmann::json r = Call("Page.captureScreenshot", {{"format", "png"}});
  std::string png;
  if (!r.is_object() || !absl::Base64Unescape(r.value("data", ""), &png)) return false;
  std::ofstream(path, std::ios::binary) << png;
  return true;
}

bool Chromium::Connect() {
  auto list = nlohmann::json::parse(HttpGet(devtools_port_, "/json/list"), nullptr, false);
  if (!list.is_array()) return false;
  std::string path;
  for (const auto& t : list) {
    if (t.value("type", "") != "page") continue;
    const std::string url = t.value("webSocketDebuggerUrl", "");
    const size_t p = url.find("/devtools/");
    if (p != std::string::npos) path = url.substr(p);
  }
  if (path.empty()) return false;
  auto s = std::make_unique<Socket>();
  beast::error_code ec;
  s->ws.next_layer().connect(
      {boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(devtools_port_)},
      ec);
  if (!ec) s->ws.handshake(absl::StrCat("127.0.0.1:", devtools_port_), path, ec);
  if (ec) return false;
  ws_ = std::move(s);
  return true;
}

}  // namespace iss::testing
