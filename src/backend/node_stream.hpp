// A connection to a node, plain TCP or TLS, and the opening every such connection goes through
// before it carries a request: dial, TLS handshake (when the pool has tls), then AUTH (or
// HELLO 3 AUTH on RESP3 connections) and SELECT. Used by the pipelined connections, the
// dedicated links, the health probes and the blocking client of the write-behind flusher.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "backend/tls_context.hpp"
#include "config/config.hpp"
#include "sidecache/util/asio.hpp"
#include "sidecache/util/byte_buffer.hpp"

namespace sidecache::backend {

// How to open a session on one node. Shared (read-only) by every connection to the node; the
// password is read from its source for each new connection, so a rotated Secret file applies
// to the next connection without a reload.
struct NodeSecurity {
  std::string username;           // empty: AUTH <password> (requirepass)
  config::SecretSource password;  // empty: no AUTH
  std::uint32_t db = 0;
  std::shared_ptr<asio::ssl::context> tls;  // null: plain TCP
  std::string server_name;                  // verified name; empty: the node's host
  bool verify = true;
  std::string tls_error;  // the TLS context could not be built: every connect fails with it
  // READONLY after AUTH/HELLO/SELECT: a Redis Cluster replica then serves reads of its
  // primary's slots instead of answering MOVED.
  bool readonly = false;
};

// Builds the security of node `index` of `pool` (per-node credentials override the pool's).
// Never throws: a TLS context that cannot be built is kept as tls_error and logged.
std::shared_ptr<const NodeSecurity> make_node_security(const config::PoolConfig& pool,
                                                       std::size_t index);

class NodeStream {
 public:
  using executor_type = tcp::socket::executor_type;

  explicit NodeStream(const executor_type& executor) : executor_(executor), plain_(executor) {}

  executor_type get_executor() { return executor_; }
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : plain_; }
  bool is_open() { return socket().is_open(); }
  void close() {
    boost::system::error_code ignored;
    socket().close(ignored);
  }

  // A fresh, closed socket; TLS when `context` is set.
  void reset(asio::ssl::context* context) {
    tls_.reset();
    plain_ = tcp::socket(executor_);
    if (context != nullptr) tls_.emplace(tcp::socket(executor_), *context);
  }
  asio::ssl::stream<tcp::socket>* tls() { return tls_ ? &*tls_ : nullptr; }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    if (tls_) return tls_->async_read_some(buffers, std::forward<Token>(token));
    return plain_.async_read_some(buffers, std::forward<Token>(token));
  }
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    if (tls_) return tls_->async_write_some(buffers, std::forward<Token>(token));
    return plain_.async_write_some(buffers, std::forward<Token>(token));
  }

 private:
  executor_type executor_;
  tcp::socket plain_;
  std::optional<asio::ssl::stream<tcp::socket>> tls_;
};

struct NodeAddress {
  std::string name;
  std::string host;
  std::uint16_t port = 0;
  std::shared_ptr<const NodeSecurity> security{};  // null: plain TCP, no AUTH, database 0
};

// Why opening a session failed, for metrics and for what clients are told.
enum class OpenFailure { kNone, kConnect, kTls, kAuth, kSelect, kProtocol };

struct OpenResult {
  OpenFailure failure = OpenFailure::kNone;
  std::string reason;  // never holds the password
  bool ok() const { return failure == OpenFailure::kNone; }
};

// Dials `node`, runs the TLS handshake and sends AUTH / HELLO 3 / SELECT as `node.security`
// and `resp3` ask, reading their replies into `in` (consumed; nothing else is read), all within
// `timeout`. On failure the stream is closed.
asio::awaitable<OpenResult> open_node(NodeStream& stream, const NodeAddress& node, bool resp3,
                                      std::chrono::milliseconds timeout, ByteBuffer& in);

}  // namespace sidecache::backend
