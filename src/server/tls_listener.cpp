#include "server/tls_listener.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdexcept>
#include <string>

namespace sidecache::server {
namespace {

std::string reason(const boost::system::error_code& ec) {
  std::string text = ec.message();
  const unsigned long err = ERR_get_error();
  if (err != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof buf);
    text = buf;
  }
  ERR_clear_error();
  return text;
}

}  // namespace

std::shared_ptr<asio::ssl::context> make_server_context(const config::TlsListenConfig& tls) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  boost::system::error_code ec;
  context->use_certificate_chain_file(tls.cert_file, ec);
  if (ec) throw std::runtime_error("listen_tls.cert_file " + tls.cert_file + ": " + reason(ec));
  context->use_private_key_file(tls.key_file, asio::ssl::context::pem, ec);
  if (ec) throw std::runtime_error("listen_tls.key_file " + tls.key_file + ": " + reason(ec));
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    ERR_clear_error();
    throw std::runtime_error("listen_tls.key_file " + tls.key_file +
                             ": does not match the certificate in " + tls.cert_file);
  }
  if (!tls.ca_file.empty()) {
    context->load_verify_file(tls.ca_file, ec);
    if (ec) throw std::runtime_error("listen_tls.ca_file " + tls.ca_file + ": " + reason(ec));
  }
  if (tls.verify_clients) {
    context->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  } else if (!tls.ca_file.empty()) {
    context->set_verify_mode(asio::ssl::verify_peer);  // a certificate, if sent, must be valid
  } else {
    context->set_verify_mode(asio::ssl::verify_none);
  }
  return context;
}

}  // namespace sidecache::server
