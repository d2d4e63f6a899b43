// Fuzzes the gateway's REST -> gRPC transcoding over the platform's real
// google.api.http annotations: the first line of the input is
// "METHOD /path?query", the rest is the request body. Route matching, path
// variable decoding, query mapping and JSON body parsing must never crash,
// and every request they accept must satisfy two properties:
//   1. the gateway's fast JSON printer writes the same JSON as protobuf's own
//      printer for it (the printer the gateway answers with is differential-
//      checked on arbitrary accepted messages, not only on hand-made ones);
//   2. a refused request's error body is valid google.rpc.Status JSON;
// and protobuf never logs an error (it does when a string field is not UTF-8);
//   3. for `body: "*"` routes, the request printed as JSON and sent again as
//      the body (same path) builds the very same message: JSON in, JSON out
//      and JSON in again lose nothing;
//   4. the wire printer (FastWireToJson) prints every accepted request from
//      its bytes exactly as the fast printer prints the message, and on the
//      raw body read as the route's response (and request) bytes it either
//      declines or prints exactly what parsing + the fast printer give;
//   5. the whole input, taken as an Authorization header value, is accepted
//      for forwarding as gRPC metadata exactly when gRPC core itself would
//      accept it (and it is within the cap): an accepted value that gRPC
//      refuses aborts the gateway;
//   6. the whole input, taken as the bytes of one connection, is framed as
//      the gateway frames it (gateway/http_framing.h): every head it accepts
//      has the framing Beast then uses (a Transfer-Encoding field only when
//      Beast reads the body as chunked, Content-Length only without one), so
//      no body is ever read as a request; and after a chunked body the fields
//      are exactly the head's (trailers never add or change one).
#include <utility>  // before any Asio header (Boost 1.74 + g++ 12)

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "boost/asio/buffer.hpp"
#include "boost/beast/http.hpp"
#include "gateway/http_framing.h"
#include "gateway/json_printer.h"
#include "gateway/metadata.h"
#include "gateway/route_table.h"
#include "gateway/transcoder.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpc/grpc.h"
#include "grpc/slice.h"
#include "iss/ingest/v1/ingest.pb.h"
#include "iss/peebot/v1/peebot.pb.h"
#include "iss/storage/v1/storage.pb.h"
#include "nlohmann/json.hpp"

namespace {

using iss::gateway::RouteTable;

// Protobuf logs (and goes on) when asked to serialise a string field that is
// not UTF-8; for us that is a request upstream would refuse, or an error body
// with mangled text. Any protobuf error log is a finding.
bool g_parse_errors_expected = false;  // parsing arbitrary bytes logs invalid UTF-8

void TrapOnProtobufError(google::protobuf::LogLevel level, const char*, int, const std::string&) {
  if (level >= google::protobuf::LOGLEVEL_ERROR && !g_parse_errors_expected) __builtin_trap();
}

const RouteTable& Table() {
  static const RouteTable* table = [] {
    google::protobuf::SetLogHandler(&TrapOnProtobufError);
    // Touch each generated file so its descriptors are in the generated pool.
    (void)iss::ingest::v1::IngestTestEventRequest::descriptor();
    (void)iss::storage::v1::QueryWindowRequest::descriptor();
    (void)iss::peebot::v1::Settings::descriptor();
    auto t = RouteTable::Build(*google::protobuf::DescriptorPool::generated_pool(),
                               {"iss.ingest.v1.IngestService", "iss.storage.v1.StorageService",
                                "iss.peebot.v1.PeeBotService"});
    if (!t.ok()) __builtin_trap();  // the shipped annotations must always build
    return new RouteTable(*std::move(t));
  }();
  return *table;
}

// `bytes` as a serialized message of `type`: the wire printer declines, or
// prints exactly what parsing + the fast printer give.
void CheckWirePrinter(const google::protobuf::Descriptor* type, std::string_view bytes) {
  std::string wire = "x";
  const bool printed = iss::gateway::FastWireToJson(type, bytes, &wire);
  if (!printed) {
    if (wire != "x") __builtin_trap();  // untouched when declining
    return;
  }
  std::unique_ptr<google::protobuf::Message> msg(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
  g_parse_errors_expected = true;
  const bool parsed = msg->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  g_parse_errors_expected = false;
  if (!parsed) __builtin_trap();  // printed bytes that do not parse
  std::string fast = "x";
  if (!iss::gateway::FastMessageToJson(*msg, &fast) || fast != wire) __builtin_trap();
}

void CheckPrinterAgrees(const google::protobuf::Message& msg) {
  std::string fast;
  if (!iss::gateway::FastMessageToJson(msg, &fast)) return;  // deferred to protobuf
  // Our request types have no maps or oneofs: the wire printer never declines them.
  std::string wire;
  if (!iss::gateway::FastWireToJson(msg.GetDescriptor(), msg.SerializeAsString(), &wire) ||
      wire != fast) {
    __builtin_trap();
  }
  std::string reference;
  google::protobuf::util::JsonPrintOptions opts;
  opts.always_print_primitive_fields = true;
  if (!google::protobuf::util::MessageToJsonString(msg, &reference, opts).ok()) return;
  const auto a = nlohmann::json::parse(fast, nullptr, false);
  if (a.is_discarded() || a != nlohmann::json::parse(reference, nullptr, false)) __builtin_trap();
}

// The gateway forwards a header only when gRPC core accepts it as metadata.
void CheckMetadataValue(std::string_view value) {
  const bool ours =
      iss::gateway::IsForwardableMetadataValue(absl::string_view(value.data(), value.size()));
  const bool grpcs = grpc_header_nonbin_value_is_legal(
                         grpc_slice_from_static_buffer(value.data(), value.size())) != 0;
  if (ours != (grpcs && value.size() <= iss::gateway::kMaxForwardedHeaderBytes)) __builtin_trap();
}

using FieldList = std::vector<std::pair<std::string, std::string>>;

FieldList Fields(const boost::beast::http::fields& fields) {
  FieldList out;
  for (const auto& f : fields) out.emplace_back(f.name_string(), f.value());
  return out;
}

// Feeds `bytes[*pos...]` to `parser` until `done` holds; false when more
// input would be needed or the parser refuses (the gateway closes then).
template <typename Parser, typename Done>
bool Feed(Parser& parser, std::string_view bytes, size_t* pos, Done done) {
  while (!done()) {
    boost::beast::error_code ec;
    const size_t used =
        parser.put(boost::asio::buffer(bytes.data() + *pos, bytes.size() - *pos), ec);
    *pos += used;
    if (ec || (used == 0 && !done())) return false;
  }
  return true;
}

void CheckFraming(std::string_view bytes) {
  namespace http = boost::beast::http;
  size_t pos = 0;
  for (int requests = 0; requests < 8 && pos < bytes.size(); ++requests) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(16384);
    parser.body_limit(1 << 20);
    parser.eager(false);
    if (!Feed(parser, bytes, &pos, [&] { return parser.is_header_done(); })) return;
    const auto& head = parser.get();
    const iss::gateway::HeadVerdict verdict =
        iss::gateway::CheckRequestHead(head, !parser.is_done());
    if (verdict.refuse_status != 0) {
      if (verdict.message.empty()) __builtin_trap();
      return;  // answered, connection closed: nothing after the head is read
    }
    const bool te = head.find(http::field::transfer_encoding) != head.end();
    const bool cl = head.find(http::field::content_length) != head.end();
    if (te && !parser.chunked()) __builtin_trap();  // the smuggling shape
    if (cl && (te || !parser.content_length())) __builtin_trap();
    const FieldList head_fields = Fields(head);
    iss::gateway::TrailerGuard trailers;
    trailers.Keep(head, parser.chunked());
    parser.eager(true);
    if (!Feed(parser, bytes, &pos, [&] { return parser.is_done(); })) return;
    auto message = parser.release();
    trailers.Restore(message);
    if (Fields(message) != head_fields) __builtin_trap();
    if (!message.keep_alive()) return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckMetadataValue(input);
  CheckFraming(input);
  const size_t eol = input.find('\n');
  const std::string_view line = input.substr(0, eol);
  const std::string_view body = eol == std::string_view::npos ? "" : input.substr(eol + 1);
  const size_t sp = line.find(' ');
  if (sp == std::string_view::npos) return 0;
  const std::string method(line.substr(0, sp));
  const std::string target(line.substr(sp + 1));
  const size_t q = target.find('?');
  const std::string path = target.substr(0, q);
  const std::string query = q == std::string::npos ? "" : target.substr(q + 1);

  const RouteTable::MatchResult m = Table().Match(method, path);
  if (m.outcome != RouteTable::Outcome::kFound) return 0;
  if (m.route == nullptr) __builtin_trap();
  CheckWirePrinter(m.route->method->output_type(), body);
  CheckWirePrinter(m.route->method->input_type(), body);

  auto built = iss::gateway::BuildRequest(*m.route, m.bindings, query,
                                          absl::string_view(body.data(), body.size()));
  if (!built.ok()) {
    if (built.status().message().empty()) __builtin_trap();  // errors say what was wrong
    // ... and the 400 body that carries the message is valid google.rpc.Status JSON.
    const auto error = nlohmann::json::parse(iss::gateway::StatusJson(3, built.status().message()),
                                             nullptr, false);
    if (error.is_discarded() || !error.contains("message") || error["code"] != 3) __builtin_trap();
    return 0;
  }
  const google::protobuf::Message& msg = **built;
  CheckPrinterAgrees(msg);

  if (m.route->body == "*" && query.empty()) {
    std::string json;
    if (!google::protobuf::util::MessageToJsonString(msg, &json).ok()) return 0;
    auto again = iss::gateway::BuildRequest(*m.route, m.bindings, "", json);
    if (!again.ok()) __builtin_trap();
    if (!google::protobuf::util::MessageDifferencer::Equals(msg, **again)) __builtin_trap();
  }
  return 0;
}
