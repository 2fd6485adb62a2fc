#include "server/tls_stream.hpp"

#include <openssl/err.h>

#include <algorithm>
#include <cerrno>
#include <new>

namespace sidecache::server {

TlsStream::TlsStream(tcp::socket& socket, asio::ssl::context& context)
    : socket_(socket), ssl_(SSL_new(context.native_handle())) {
  if (ssl_ == nullptr) {
    ERR_clear_error();
    throw std::bad_alloc();
  }
  // OpenSSL reads what the socket has, not a record header and then its body (two reads a
  // record); a write may end after some records (progress while the client reads slowly).
  SSL_set_read_ahead(ssl_, 1);
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  boost::system::error_code ignored;
  socket_.native_non_blocking(true, ignored);
  SSL_set_fd(ssl_, static_cast<int>(socket_.native_handle()));  // BIO_NOCLOSE: the socket's own
  SSL_set_accept_state(ssl_);
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

void TlsStream::shutdown() {
  if (failed_ || !socket_.is_open() || !SSL_is_init_finished(ssl_)) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // sends close_notify; the client's is not awaited
  ERR_clear_error();
}

TlsStream::Step TlsStream::handshake_step() {
  ERR_clear_error();
  const int ret = SSL_do_handshake(ssl_);
  if (ret == 1) {
    read_ready_ = true;  // the client's first request may have come with its Finished
    return Step{};
  }
  return failed(ret);
}

TlsStream::Step TlsStream::read_step(asio::mutable_buffer buffer) {
  ERR_clear_error();
  constexpr std::size_t kMaxRead = 1 << 30;  // SSL_read takes an int
  const std::size_t size = std::min(buffer.size(), kMaxRead);
  const int ret = SSL_read(ssl_, buffer.data(), static_cast<int>(size));
  if (ret > 0) {
    const auto n = static_cast<std::size_t>(ret);
    // A full buffer may have left bytes in OpenSSL; otherwise the client most likely waits for
    // its reply and a read now would only find the socket empty.
    read_ready_ = n == size || SSL_has_pending(ssl_) == 1;
    return Step{Want::kDone, n, {}};
  }
  read_ready_ = false;
  return failed(ret);
}

TlsStream::Step TlsStream::write_step(const char* data, std::size_t size) {
  ERR_clear_error();
  const int ret = SSL_write(ssl_, data, static_cast<int>(size));
  if (ret > 0) return Step{Want::kDone, static_cast<std::size_t>(ret), {}};
  return failed(ret);
}

TlsStream::Step TlsStream::Write::operator()(TlsStream& tls) {
  // SSL_write takes an int: large buffers go in pieces (partial writes allow any count).
  constexpr std::size_t kMaxWrite = 1 << 30;
  const char* data = static_cast<const char*>(buffer.data());
  while (written < buffer.size()) {
    Step step = tls.write_step(data + written, std::min(buffer.size() - written, kMaxWrite));
    if (step.want != Want::kDone) {
      step.bytes = written;
      return step;
    }
    written += step.bytes;
  }
  return Step{Want::kDone, written, {}};
}

TlsStream::Step TlsStream::failed(int ret) {
  const int saved_errno = errno;
  Step step{Want::kError, 0, {}};
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ:
      return Step{Want::kRead, 0, {}};
    case SSL_ERROR_WANT_WRITE:
      return Step{Want::kWrite, 0, {}};
    case SSL_ERROR_ZERO_RETURN:  // the client's close_notify: ours may still be sent
      return Step{Want::kError, 0, asio::error::eof};
    case SSL_ERROR_SYSCALL:
      step.ec = saved_errno != 0
                    ? boost::system::error_code(saved_errno, asio::error::get_system_category())
                    : boost::system::error_code(asio::ssl::error::stream_truncated);
      break;
    default: {
      const unsigned long err = ERR_get_error();
      if (ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        step.ec = asio::ssl::error::stream_truncated;  // closed without close_notify
      } else {
        step.ec = boost::system::error_code(static_cast<int>(err), asio::error::get_ssl_category());
      }
      break;
    }
  }
  failed_ = true;
  ERR_clear_error();
  return step;
}

}  // namespace sidecache::server
