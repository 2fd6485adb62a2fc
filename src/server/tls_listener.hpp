// TLS on sidecache's own port (listen_tls): the server context made from the configured
// certificate, key and, for mutual TLS, the CA that client certificates must chain to. Made at
// start and again on every reload, so rotated files apply to new connections.
#pragma once

#include <memory>

#include <boost/asio/ssl.hpp>

#include "config/config.hpp"
#include "sidecache/util/asio.hpp"

namespace sidecache::server {

// Throws std::runtime_error naming the file and OpenSSL's reason.
std::shared_ptr<asio::ssl::context> make_server_context(const config::TlsListenConfig& tls);

}  // namespace sidecache::server
