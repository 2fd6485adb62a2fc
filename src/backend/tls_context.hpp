// OpenSSL contexts built from a config::TlsConfig, for either end of a connection: sidecache
// dialling a node (client role) or accepting a client (server role). A context reads its files
// when it is built; to pick up rotated certificates, build a new one (on reload) and use it for
// new connections; connections already open keep the context they were made with.
#pragma once

// Asio first (see sidecache/util/asio.hpp), then its SSL part.
#include "sidecache/util/asio.hpp"

#include <boost/asio/ssl.hpp>
#include <memory>
#include <string>

#include "config/config.hpp"

namespace sidecache::backend {

enum class TlsRole {
  kClient,  // verifies the server's chain against ca_file (or the system store) and its name
  kServer,  // presents cert_file; with ca_file and verify, requires a client certificate
};

// Builds the context: minimum version, CAs, certificate and key, verification mode. Throws
// config::ConfigError naming the file and OpenSSL's reason (never key material).
std::shared_ptr<asio::ssl::context> make_tls_context(const config::TlsConfig& tls, TlsRole role);

// Client side, per connection: sets SNI (host names only) and the name or IP address the
// server's certificate must carry. `name`: tls.server_name, else the node's host.
void expect_peer_name(asio::ssl::stream<tcp::socket>& stream, const std::string& name, bool verify);

// After a failed handshake: why, in words ("certificate has expired", "hostname mismatch",
// "wrong version number"), from the verification result or the error code.
std::string describe_tls_failure(asio::ssl::stream<tcp::socket>& stream,
                                 const boost::system::error_code& ec);

}  // namespace sidecache::backend
