// Owns: the tests' one blocking HTTP/1.1 client over real sockets
// (Boost.Beast): a request to 127.0.0.1:<port>, the whole response back with
// its headers. Raw-bytes and SSE readers for the gateway's hostile-input
// tests build on it (gateway/testing/http_client.h).
#pragma once

#include <utility>  // before any Asio header

#include <map>
#include <string>
#include <vector>

#include "boost/beast/http.hpp"

namespace iss::testing {

struct HttpResponse {
  int status = 0;                                   // 0 = no response (connection failed or closed)
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string Header(const std::string& lower_name) const;
};

HttpResponse HttpCall(int port, const std::string& method, const std::string& target,
                      const std::string& body = "",
                      const std::vector<std::pair<std::string, std::string>>& headers = {});

// A response Beast parsed, in the shape above.
HttpResponse ToHttpResponse(
    const boost::beast::http::response<boost::beast::http::string_body>& res);

}  // namespace iss::testing
