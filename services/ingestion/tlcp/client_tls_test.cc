// The client's TLS path (wss://, SNI, certificate and host name checks)
// against a small TLS WebSocket server speaking just enough TLCP, with a
// certificate made for the test.
#include <utility>  // before Asio (g++ 12 + Boost 1.74)

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/asio_names.h"
#include "gtest/gtest.h"
#include "services/ingestion/tlcp/client.h"
#include "tests/support/wait.h"
#include "tlcp/codec.h"

namespace iss::tlcp {
namespace {

using iss::testing::WaitFor;

// A self-signed certificate for "localhost" (EC P-256), PEM.
struct TestCert {
  std::string cert_pem;
  std::string key_pem;
};

TestCert MakeCert(const char* host) {
  EVP_PKEY* key = EVP_EC_gen("prime256v1");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(host),
                             -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  const std::string san = absl::StrCat("DNS:", host);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  X509_sign(x, key, EVP_sha256());
  auto pem = [](auto write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(bio);
    return out;
  };
  TestCert c;
  c.cert_pem = pem([&](BIO* b) { PEM_write_bio_X509(b, x); });
  c.key_pem =
      pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); });
  X509_free(x);
  EVP_PKEY_free(key);
  return c;
}

// Serves TLCP over wss on 127.0.0.1: a session and MERGE subscriptions with a
// fixed snapshot, then PROBEs. One connection at a time.
class TlsTlcpServer {
 public:
  // `conok_keepalive`: the keep-alive (ms) granted in CONOK; the server never
  // sends PROBE, so only the client's stall watchdog ends a quiet session.
  explicit TlsTlcpServer(const TestCert& cert, std::string conok_keepalive = "500")
      : conok_keepalive_(std::move(conok_keepalive)),
        ctx_(ssl::context::tls_server),
        acceptor_(ioc_) {
    ctx_.use_certificate_chain(asio::buffer(cert.cert_pem));
    ctx_.use_private_key(asio::buffer(cert.key_pem), ssl::context::pem);
    const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { Run(); });
  }
  ~TlsTlcpServer() {
    stop_ = true;
    // Unblock accept() with one last connection.
    asio::io_context ioc;
    tcp::socket s(ioc);
    boost::system::error_code ec;
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port_)), ec);
    thread_.join();
  }
  int port() const { return port_; }
  int tls_failures() const { return tls_failures_; }
  int sessions() const { return sessions_; }

 private:
  void Run() {
    while (!stop_) {
      tcp::socket sock(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(sock, ec);
      if (ec || stop_) return;
      Serve(std::move(sock));
    }
  }
  void Serve(tcp::socket sock) {
    boost::system::error_code ec;
    websocket::stream<beast::ssl_stream<tcp::socket>> ws(std::move(sock), ctx_);
    ws.next_layer().handshake(ssl::stream_base::server, ec);
    if (ec) {
      ++tls_failures_;
      return;
    }
    ws.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(beast::http::field::sec_websocket_protocol, "TLCP-2.5.0.lightstreamer.com");
    }));
    ws.accept(ec);
    if (ec) return;
    ws.text(true);
    LineSplitter splitter;
    std::vector<std::string> lines;
    while (!stop_) {
      beast::flat_buffer buf;
      ws.read(buf, ec);
      if (ec) return;
      lines.clear();
      splitter.Feed(beast::buffers_to_string(buf.data()), &lines);
      if (splitter.pending()) splitter.Feed("\n", &lines);
      std::string out;
      for (size_t i = 0; i < lines.size(); ++i) {
        if (lines[i] == "wsok") {
          out += "WSOK\r\n";
          continue;
        }
        const std::string name = lines[i];
        const std::string body = i + 1 < lines.size() ? lines[++i] : "";
        std::map<std::string, std::string> p;
        if (auto parsed = ParseParams(body); parsed.ok()) p.insert(parsed->begin(), parsed->end());
        if (name == "create_session") {
          ++sessions_;
          absl::StrAppend(&out, "CONOK,STLS1,50000,", conok_keepalive_, ",*\r\n");
        } else if (name == "control") {
          std::vector<std::string> group = absl::StrSplit(p["LS_group"], ' ');
          const std::string sub = p["LS_subId"];
          absl::StrAppend(&out, "REQOK,", p["LS_reqId"], "\r\nSUBOK,", sub, ",", group.size(),
                          ",6\r\n");
          for (size_t k = 1; k <= group.size(); ++k) {
            absl::StrAppend(&out, "U,", sub, ",", k, ",", 40 + k,
                            "|4224.5|24|$|#|caf\xC3\xA9\r\nEOS,", sub, ",", k, "\r\n");
          }
        }
      }
      if (!out.empty()) ws.write(asio::buffer(out), ec);
      if (ec) return;
    }
  }

  const std::string conok_keepalive_;
  asio::io_context ioc_;
  ssl::context ctx_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> tls_failures_{0};
  std::atomic<int> sessions_{0};
};

class Sink : public ingest::UpdateSink {
 public:
  bool Deliver(ingest::RawUpdate u) override {
    absl::MutexLock lock(&mu);
    updates.push_back(std::move(u));
    return true;
  }
  size_t size() {
    absl::MutexLock lock(&mu);
    return updates.size();
  }
  absl::Mutex mu;
  std::vector<ingest::RawUpdate> updates;
};

class ClientTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cert_ = MakeCert("localhost");
    ca_file_ = ::testing::TempDir() + "/tlcp_test_ca.pem";
    std::ofstream(ca_file_) << cert_.cert_pem;
    server_ = std::make_unique<TlsTlcpServer>(cert_);
  }
  void TearDown() override { std::remove(ca_file_.c_str()); }
  ClientOptions Options() {
    ClientOptions o;
    o.host = "localhost";
    o.port = server_->port();
    o.tls = true;
    o.items = {"TIME_000001", "NODE3000005"};
    o.keepalive = absl::Milliseconds(500);
    o.stall_margin = absl::Milliseconds(500);
    o.backoff_initial = absl::Milliseconds(50);
    o.backoff_max = absl::Milliseconds(200);
    o.connect_timeout = absl::Seconds(2);
    return o;
  }
  TestCert cert_;
  std::string ca_file_;
  std::unique_ptr<TlsTlcpServer> server_;
  Sink sink_;
};

TEST_F(ClientTlsTest, VerifiedTlsSessionDeliversDecodedUpdates) {
  ClientOptions o = Options();
  o.tls_ca_file = ca_file_;
  Client client(o, &sink_);
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return sink_.size() >= 2; }, absl::Seconds(10)));
  const ClientStatus st = client.Status();
  EXPECT_EQ(st.state, iss::ingest::v1::CONNECTION_STATE_CONNECTED);
  EXPECT_EQ(st.session_id, "STLS1");
  EXPECT_EQ(st.subscribed_items, 2u);
  client.Stop();
  absl::MutexLock lock(&sink_.mu);
  EXPECT_EQ(sink_.updates[1].item_id, "NODE3000005");
  EXPECT_EQ(sink_.updates[1].value, "42");
  EXPECT_EQ(sink_.updates[1].status_indicator, "");
  EXPECT_EQ(sink_.updates[1].status_color, std::nullopt);
  EXPECT_EQ(sink_.updates[1].calibrated_data, "caf\xC3\xA9");
  EXPECT_TRUE(sink_.updates[1].snapshot);
}

TEST_F(ClientTlsTest, UntrustedCertificateIsRefused) {
  Client client(Options(), &sink_);  // system trust store only
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return client.Status().reconnects >= 2; }, absl::Seconds(10)));
  EXPECT_NE(client.Status().state, iss::ingest::v1::CONNECTION_STATE_CONNECTED);
  EXPECT_GE(server_->tls_failures(), 1);
  EXPECT_EQ(server_->sessions(), 0);
  EXPECT_EQ(sink_.size(), 0u);
}

TEST_F(ClientTlsTest, WrongHostNameIsRefused) {
  ClientOptions o = Options();
  o.tls_ca_file = ca_file_;
  o.host = "127.0.0.1";  // the certificate names "localhost" only
  Client client(o, &sink_);
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return client.Status().reconnects >= 2; }, absl::Seconds(10)));
  EXPECT_EQ(server_->sessions(), 0);
}

TEST_F(ClientTlsTest, VerificationCanBeTurnedOff) {
  ClientOptions o = Options();
  o.verify_tls_peer = false;
  Client client(o, &sink_);
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return sink_.size() >= 2; }, absl::Seconds(10)));
}

// A server granting an absurd keep-alive and then going quiet is still caught
// by the stall watchdog: the grant is clamped to max_keepalive.
TEST_F(ClientTlsTest, HugeGrantedKeepaliveStillStalls) {
  server_.reset();
  server_ = std::make_unique<TlsTlcpServer>(cert_, "9223372036854775807");
  ClientOptions o = Options();
  o.tls_ca_file = ca_file_;
  o.keepalive = absl::Milliseconds(200);
  o.max_keepalive = absl::Milliseconds(300);
  o.stall_margin = absl::Milliseconds(200);
  Client client(o, &sink_);
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return sink_.size() >= 2; }, absl::Seconds(10)));
  const absl::Time quiet_since = absl::Now();
  // No PROBE ever comes: a stall after ~keep-alive cap + margin, then a new session.
  ASSERT_TRUE(WaitFor([&] { return server_->sessions() >= 2; }, absl::Seconds(10)));
  EXPECT_LT(absl::Now() - quiet_since, absl::Seconds(5));
  EXPECT_GE(client.Status().reconnects, 1u);
  client.Stop();
}

TEST_F(ClientTlsTest, MissingCaFileIsAnOptionError) {
  ClientOptions o = Options();
  o.tls_ca_file = "/nonexistent/ca.pem";
  Client client(o, &sink_);
  EXPECT_EQ(client.Start().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace iss::tlcp
