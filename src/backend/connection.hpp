// One pipelined connection to one backend node, owned by one worker. Requests from many
// clients are appended to one output buffer and written together; replies are framed in place
// and handed back in order. Connects lazily, reconnects with exponential backoff.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "backend/reply_sink.hpp"
#include "resp/reply.hpp"
#include "sidecache/stats.hpp"
#include "sidecache/util/asio.hpp"
#include "sidecache/util/byte_buffer.hpp"

namespace sidecache::backend {

struct ConnectionOptions {
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds request_timeout{2000};  // 0: none
  std::chrono::milliseconds backoff_min{8};
  std::chrono::milliseconds backoff_max{512};
  std::uint32_t max_inflight = 65536;
};

struct NodeAddress {
  std::string name;
  std::string host;
  std::uint16_t port = 0;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class State { kIdle, kConnecting, kConnected, kBackoff, kStopped };

  Connection(asio::io_context& io, NodeAddress node, ConnectionOptions options,
             std::shared_ptr<NodeStats> stats);
  void start();
  void stop();
  void send(std::string_view request, ReplyTarget target);
  State state() const { return state_; }
  std::size_t inflight() const { return pending_.size(); }

 private:
  struct Pending {
    ReplyTarget target;
    std::chrono::steady_clock::time_point sent;
  };

  asio::awaitable<void> run();
  asio::awaitable<bool> connect();
  asio::awaitable<void> read_replies();
  void flush();
  void schedule_flush();
  void arm_timeout();
  void on_timeout();
  void fail_pending(std::string_view reason);
  void reply_error(const ReplyTarget& target, std::string_view what);
  void close_socket();

  asio::io_context& io_;
  NodeAddress node_;
  ConnectionOptions options_;
  std::shared_ptr<NodeStats> stats_;  // shared by this worker's connections to the node
  tcp::socket socket_;
  asio::steady_timer timeout_timer_;
  asio::steady_timer backoff_timer_;
  State state_ = State::kIdle;
  std::string last_error_;
  bool flush_posted_ = false;
  bool writing_ = false;
  bool timer_armed_ = false;
  std::string out_;  // requests not yet handed to the socket
  std::string writing_buf_;
  ByteBuffer in_;
  resp::ReplyFramer framer_;
  // Requests written or queued, in order. The first `timed_out_` were already answered with a
  // timeout error; their replies are dropped when they arrive (they keep their place in line).
  std::deque<Pending> pending_;
  std::size_t timed_out_ = 0;
  std::uint64_t generation_ = 0;  // bumped per connect: stale write completions are ignored
  std::string scratch_;
};

}  // namespace sidecache::backend
