// One client connection's TLS layer (listen_tls). OpenSSL reads and writes the non-blocking
// socket itself (SSL_set_fd), as Redis does; the reactor only tells when the socket is ready
// again after OpenSSL wanted to read or write. Asio's ssl::stream instead puts a memory BIO pair
// between OpenSSL and the socket: one more copy of every record and several more handler hops
// for each read and write: 0.5-0.8 us more CPU per request at -P 1 (docs/benchmarks.md).
//
// The interface is the one the session used on ssl::stream: async_handshake, async_read_some
// and async_write (all bytes), each completing through the token's handler, never inline.
// At most one read and one write may be under way at a time (as on any Asio stream); they may
// overlap. The socket must stay the session's: closing it aborts whatever waits (the handshake
// timeout works that way), and nothing touches the SSL object after the socket is closed.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>

#include <boost/asio/compose.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>

#include "sidecache/util/asio.hpp"

namespace sidecache::server {

class TlsStream {
 public:
  // Throws std::bad_alloc when OpenSSL cannot make the connection's SSL object.
  TlsStream(tcp::socket& socket, asio::ssl::context& context);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Completes with void(error_code, std::size_t): the size is always 0.
  template <class Token>
  auto async_handshake(Token&& token) {
    return start(Handshake{}, false, std::forward<Token>(token));
  }
  // Some bytes, at most buffer.size(); asio::error::eof after the client's close_notify,
  // asio::ssl::error::stream_truncated when it closed without one.
  template <class Token>
  auto async_read_some(asio::mutable_buffer buffer, Token&& token) {
    return start(Read{buffer}, !read_ready_, std::forward<Token>(token));
  }
  // All of the buffer, or an error.
  template <class Token>
  auto async_write(asio::const_buffer buffer, Token&& token) {
    return start(Write{buffer}, false, std::forward<Token>(token));
  }
  // Sends close_notify if the connection is healthy and the socket takes it at once (best
  // effort, before the TCP FIN; nothing is waited for).
  void shutdown();

 private:
  enum class Want { kDone, kRead, kWrite, kError };
  struct Step {
    Want want = Want::kDone;
    std::size_t bytes = 0;
    boost::system::error_code ec;
  };
  // The three operations as steps: each calls OpenSSL once (writes: until the buffer is out)
  // and says whether it is done or what the socket must become ready for.
  struct Handshake {
    Step operator()(TlsStream& tls) { return tls.handshake_step(); }
  };
  struct Read {
    asio::mutable_buffer buffer;
    Step operator()(TlsStream& tls) { return tls.read_step(buffer); }
  };
  struct Write {
    asio::const_buffer buffer;
    std::size_t written = 0;
    Step operator()(TlsStream& tls);
  };
  template <class Steps>
  class Op;

  Step handshake_step();
  Step read_step(asio::mutable_buffer buffer);
  Step write_step(const char* data, std::size_t size);
  // SSL_get_error of a failed call, as a step.
  Step failed(int ret);

  template <class Steps, class Token>
  auto start(Steps steps, bool wait_first, Token&& token);

  tcp::socket& socket_;
  SSL* ssl_;
  // The last read left bytes behind (in OpenSSL or perhaps in the socket): the next read tries
  // OpenSSL first; otherwise it waits for the socket first (no read bound to fail).
  bool read_ready_ = true;
  bool failed_ = false;  // a fatal error: OpenSSL may not be called again (not even shutdown)
};

// One operation: runs its steps, waiting for the socket between them, until done.
template <class Steps>
class TlsStream::Op {
 public:
  Op(TlsStream& tls, Steps steps, bool wait_first)
      : tls_(tls), steps_(std::move(steps)), state_(wait_first ? kWaitFirst : kStart) {}

  template <class Self>
  void operator()(Self& self, boost::system::error_code ec = {}) {
    switch (state_) {
      case kWaitFirst:
        state_ = kWaiting;
        return tls_.socket_.async_wait(tcp::socket::wait_read, std::move(self));
      case kPosted:
        return self.complete(result_.ec, result_.bytes);
      case kWaiting:
        if (ec) return self.complete(ec, std::size_t{0});
        break;
      case kStart:
        break;
    }
    Step step;
    if (!tls_.socket_.is_open()) {  // closed while the wake-up was queued
      step = Step{Want::kError, 0, asio::error::operation_aborted};
    } else {
      step = steps_(tls_);
    }
    if (step.want == Want::kRead || step.want == Want::kWrite) {
      state_ = kWaiting;
      return tls_.socket_.async_wait(
          step.want == Want::kRead ? tcp::socket::wait_read : tcp::socket::wait_write,
          std::move(self));
    }
    if (state_ == kStart) {  // never complete inside the initiating call
      state_ = kPosted;
      result_ = step;
      return asio::post(tls_.socket_.get_executor(), std::move(self));
    }
    self.complete(step.ec, step.bytes);
  }

 private:
  enum State { kStart, kWaitFirst, kWaiting, kPosted };
  TlsStream& tls_;
  Steps steps_;
  State state_;
  Step result_;
};

template <class Steps, class Token>
auto TlsStream::start(Steps steps, bool wait_first, Token&& token) {
  return asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
      Op<Steps>(*this, std::move(steps), wait_first), token, socket_);
}

}  // namespace sidecache::server
