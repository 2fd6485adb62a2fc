// A blocking client of one node for threads that do not run an io_context: the write-behind
// flushers and the PostgreSQL invalidation listener. It opens its connection exactly like the
// proxy's own connections (open_node: TLS, AUTH / SELECT), so those threads reach a node that
// needs a password or TLS; hiredis 0.14, which they used before, speaks neither AUTH-on-connect
// nor TLS. Each call runs a private io_context until the reply is in or the timeout passes.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "backend/node_stream.hpp"
#include "config/config.hpp"
#include "resp/reply.hpp"
#include "sidecache/util/asio.hpp"
#include "sidecache/util/byte_buffer.hpp"

namespace sidecache::backend {

// One decoded RESP2 reply (the control-plane callers need the values, not the bytes).
struct Reply {
  enum class Type { kString, kStatus, kError, kInteger, kArray, kNil };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError (without the '-')
  std::int64_t integer = 0;
  std::vector<Reply> items;  // kArray
  bool is_error() const { return type == Type::kError; }
};

// Decodes one complete, framed RESP2 reply (RESP3 scalars map to their RESP2 kin).
Reply decode_reply(std::string_view framed);

class BlockingClient {
 public:
  BlockingClient(NodeAddress node, std::chrono::milliseconds timeout);
  BlockingClient(const BlockingClient&) = delete;
  BlockingClient& operator=(const BlockingClient&) = delete;

  // Opens the connection (when closed). False: error() says why; the client stays closed.
  bool connect();
  bool connected() { return stream_.is_open(); }
  void close() { stream_.close(); }
  // Sends one command and waits for its reply up to the timeout plus `extra` (a blocking
  // command's own wait). nullopt: the connection failed or timed out (it is then closed;
  // error() says why). An error reply is a Reply of kError, not a failure.
  std::optional<Reply> command(std::span<const std::string> args,
                               std::chrono::milliseconds extra = std::chrono::milliseconds(0));
  const std::string& error() const { return error_; }
  OpenFailure last_failure() const { return failure_; }
  const NodeAddress& node() const { return node_; }
  // TLS and AUTH for the next connect (a reload changed them); an open connection is kept.
  void set_security(std::shared_ptr<const NodeSecurity> security) {
    node_.security = std::move(security);
  }
  // Where the next connect goes (a sentinel pool's node moved to a new primary); an open
  // connection is kept: close() it to move now.
  void set_address(const config::Endpoint& address) {
    node_.host = address.host;
    node_.port = address.port;
  }
  bool at(const config::Endpoint& address) const {
    return node_.host == address.host && node_.port == address.port;
  }

 private:
  asio::awaitable<void> exchange(std::string request, std::optional<Reply>& out);
  template <class Op>
  bool run_for(Op op, std::chrono::milliseconds limit);

  NodeAddress node_;
  std::chrono::milliseconds timeout_;
  asio::io_context io_{1};
  NodeStream stream_;
  ByteBuffer in_{4096};
  resp::ReplyFramer framer_;
  std::string error_;
  OpenFailure failure_ = OpenFailure::kNone;
};

}  // namespace sidecache::backend
