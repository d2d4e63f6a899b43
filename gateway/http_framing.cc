#include "gateway/http_framing.h"

#include <utility>  // before any Asio header (Boost 1.74 + g++ 12)
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace iss::gateway {
namespace {

namespace http = boost::beast::http;

absl::string_view Sv(boost::beast::string_view s) { return absl::string_view(s.data(), s.size()); }

// The elements of every `name` field, in order: a field may be repeated and
// each value is a comma-separated list whose empty elements do not count
// (RFC 9110 section 5.6.1).
std::vector<std::string> ListElements(const http::request_header<>& head, http::field name) {
  std::vector<std::string> out;
  auto range = head.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) {
    for (absl::string_view element : absl::StrSplit(Sv(it->value()), ',')) {
      element = absl::StripAsciiWhitespace(element);
      if (!element.empty()) out.push_back(absl::AsciiStrToLower(element));
    }
  }
  return out;
}

HeadVerdict Refuse(int status, std::string message) {
  HeadVerdict v;
  v.refuse_status = status;
  v.message = std::move(message);
  return v;
}

}  // namespace

HeadVerdict CheckRequestHead(const http::request_header<>& head, bool body_follows) {
  const size_t hosts = head.count(http::field::host);
  if (hosts > 1) return Refuse(400, "more than one Host header");
  if (hosts == 0 && head.version() >= 11)
    return Refuse(400, "HTTP/1.1 request without a Host header");

  if (head.find(http::field::transfer_encoding) != head.end()) {
    const std::vector<std::string> codings = ListElements(head, http::field::transfer_encoding);
    if (head.find(http::field::content_length) != head.end()) {
      return Refuse(400, "both Transfer-Encoding and Content-Length: the body length is ambiguous");
    }
    if (head.version() < 11) return Refuse(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (codings.empty() || codings.back() != "chunked") {
      return Refuse(400, "chunked is not the final transfer coding: the body length is unknown");
    }
    if (codings.size() > 1) {
      return Refuse(501, absl::StrCat("transfer coding \"", codings.front(),
                                      "\" not implemented (only chunked is)"));
    }
  }

  HeadVerdict ok;
  if (head.find(http::field::expect) != head.end()) {
    const std::vector<std::string> expectations = ListElements(head, http::field::expect);
    if (expectations.size() != 1 || expectations.front() != "100-continue") {
      return Refuse(417, "the only expectation supported is 100-continue");
    }
    ok.expect_continue = body_follows && head.version() >= 11;
  }
  return ok;
}

void TrailerGuard::Keep(const http::request_header<>& head, bool chunked) {
  // Only a chunked body has trailers: other requests pay for no copy.
  if (chunked) {
    head_ = head;
  } else {
    head_.reset();
  }
}

void TrailerGuard::Restore(http::request<http::string_body>& message) {
  if (!head_) return;
  message.base() = *std::move(head_);
  head_.reset();
}

}  // namespace iss::gateway
