// The short names of our Asio/Beast code (asio::, beast::, websocket::,
// http::, ssl::, tcp), declared once for everything in namespace iss instead
// of an alias block at the top of each file. Declares the namespaces only:
// each file still includes the Asio/Beast headers it uses.
#pragma once

// clang-format off
#include <utility>  // before Asio (g++ 12 + Boost 1.74)
// clang-format on

#include <boost/asio/ip/tcp.hpp>

namespace boost::asio::ssl {}
namespace boost::beast::http {}
namespace boost::beast::websocket {}

namespace iss {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

}  // namespace iss
