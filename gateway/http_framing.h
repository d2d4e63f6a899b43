// Owns: the rules a request head must satisfy before the gateway reads its
// body, and the removal of chunked trailer fields (RFC 9112 sections 3.2, 6,
// 7 and RFC 9110 section 10.1.1). Pure functions over Beast's parsed head, so
// the session, a unit test and the fuzz target apply the very same rules.
//
// Why this exists: Beast parses framing leniently. A Transfer-Encoding it
// does not understand leaves the body length undefined and Beast reads the
// body as the next request on the connection (request smuggling behind a
// proxy that framed it differently); chunked trailer fields are merged into
// the header fields, so a trailer could supply Authorization after a proxy
// checked the head.
#pragma once

#include <optional>
#include <string>

#include "boost/beast/http/fields.hpp"
#include "boost/beast/http/message.hpp"
#include "boost/beast/http/string_body.hpp"

namespace iss::gateway {

struct HeadVerdict {
  // 0 = the head is acceptable; otherwise the HTTP status to answer with,
  // after which the connection must be closed (its framing is unknown).
  int refuse_status = 0;
  std::string message;
  // The client sent `Expect: 100-continue` and waits for an interim
  // 100 response before sending the body it announced.
  bool expect_continue = false;
};

// Checks a parsed request head:
// - HTTP/1.1 requires exactly one Host field (400 otherwise);
// - the only transfer coding implemented is a single `chunked` (501 for any
//   other list, even one ending in chunked: we cannot decode it);
// - Transfer-Encoding together with Content-Length is refused (400): the two
//   framings disagree and a proxy may have chosen the other;
// - the only expectation is `100-continue` (417 otherwise).
// `body_follows`: whether the parser expects a body after the head.
HeadVerdict CheckRequestHead(const boost::beast::http::request_header<>& head, bool body_follows);

// Beast merges the trailer section of a chunked body into the header fields
// (a repeated name is even inserted beside the head's field of that name, so
// trailers cannot be told apart by position). While a chunked body is read
// the head is kept aside and put back after it: trailers never supply
// authentication, deadlines or routing, and the gateway uses none of them.
class TrailerGuard {
 public:
  // Call once the head is parsed.
  void Keep(const boost::beast::http::request_header<>& head, bool chunked);
  // Call once the body is read: the message's header is the head again.
  void Restore(boost::beast::http::request<boost::beast::http::string_body>& message);

 private:
  std::optional<boost::beast::http::request_header<>> head_;
};

}  // namespace iss::gateway
