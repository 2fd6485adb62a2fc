#include "backend/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace sidecache::backend {
namespace {

// OpenSSL's reason for the last failure, without the library/function prefix noise.
std::string openssl_reason(const boost::system::error_code& ec) {
  std::string reason = ec.message();
  if (ec.category() == asio::error::get_ssl_category()) {
    if (const char* r = ERR_reason_error_string(static_cast<unsigned long>(ec.value()))) {
      reason = r;
    }
  }
  return reason;
}

[[noreturn]] void fail(const std::string& what, const std::string& file,
                       const boost::system::error_code& ec) {
  throw config::ConfigError("tls: cannot load " + what + " " + file + ": " + openssl_reason(ec));
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

std::shared_ptr<asio::ssl::context> make_tls_context(const config::TlsConfig& tls, TlsRole role) {
  auto ctx = std::make_shared<asio::ssl::context>(
      role == TlsRole::kClient ? asio::ssl::context::tls_client : asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, tls.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression);
  boost::system::error_code ec;
  if (!tls.ca_file.empty()) {
    ctx->load_verify_file(tls.ca_file, ec);
    if (ec) fail("CA file", tls.ca_file, ec);
  } else if (role == TlsRole::kClient) {
    ctx->set_default_verify_paths(ec);
    if (ec) fail("the system trust store", "", ec);
  }
  if (!tls.cert_file.empty()) {
    ctx->use_certificate_chain_file(tls.cert_file, ec);
    if (ec) fail("certificate", tls.cert_file, ec);
    ctx->use_private_key_file(tls.key_file, asio::ssl::context::pem, ec);
    if (ec) fail("private key", tls.key_file, ec);
    if (SSL_CTX_check_private_key(native) != 1) {
      throw config::ConfigError("tls: private key " + tls.key_file +
                                " does not match certificate " + tls.cert_file);
    }
  } else if (role == TlsRole::kServer) {
    throw config::ConfigError("tls: a server needs cert_file and key_file");
  }
  if (role == TlsRole::kClient) {
    ctx->set_verify_mode(tls.verify ? asio::ssl::verify_peer : asio::ssl::verify_none);
  } else if (tls.verify && !tls.ca_file.empty()) {
    ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  } else {
    ctx->set_verify_mode(asio::ssl::verify_none);
  }
  return ctx;
}

void expect_peer_name(asio::ssl::stream<tcp::socket>& stream, const std::string& name,
                      bool verify) {
  SSL* ssl = stream.native_handle();
  const bool ip = is_ip_literal(name);
  // SNI carries host names only (RFC 6066).
  if (!ip && !name.empty()) SSL_set_tlsext_host_name(ssl, name.c_str());
  if (!verify || name.empty()) return;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (ip) {
    X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
  }
}

std::string describe_tls_failure(asio::ssl::stream<tcp::socket>& stream,
                                 const boost::system::error_code& ec) {
  const long result = SSL_get_verify_result(stream.native_handle());
  if (result != X509_V_OK) {
    return std::string("certificate rejected: ") + X509_verify_cert_error_string(result);
  }
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
    return "closed by the node during the handshake (is its port TLS?)";
  }
  return openssl_reason(ec);
}

}  // namespace sidecache::backend
