// One pipelined connection to one backend node, owned by one worker. Requests from many
// clients are appended to one output buffer and written together; replies are framed in place
// and handed back in order. Connects eagerly, reconnects with exponential backoff, retries
// read-only requests once when the connection breaks under them (within a retry budget).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "backend/node_stream.hpp"
#include "resp/reply.hpp"
#include "sidecache/node_sender.hpp"
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
  std::uint32_t retry_budget_percent = 10;    // retries per 100 requests at most (+ a small burst)
  std::chrono::milliseconds idle_timeout{0};  // 0: never close an idle connection
  std::chrono::milliseconds max_connection_age{0};  // 0: never replace a connection
  bool resp3 = false;  // send HELLO 3 on every (re)connect, before any request
  // Drop RESP3 push frames (`>`): on a shared connection no request's reply is a push. A
  // connection that serves Pub/Sub or tracking must leave this off.
  bool drop_pushes = false;
  // Sentinel pools: called (on the worker's thread) for a -READONLY reply, the sign that the
  // node was demoted to a replica. Null elsewhere; checked only on error replies.
  std::function<void()> on_readonly{};
};

// Resolves `node` and connects `socket` to it (TCP only; open_node() adds TLS and AUTH) within
// `timeout`, with TCP_NODELAY and keep-alive on. Returns an empty string, or why it failed
// ("connect timed out after N ms"). Shared by the pipelined connections and the dedicated links.
asio::awaitable<std::string> dial(tcp::socket& socket, const NodeAddress& node,
                                  std::chrono::milliseconds timeout);

// errors::node_auth_failed(), framed: what clients get for the keys of a node sidecache
// cannot authenticate to (the node's own reply is logged, never sent to clients).
std::string auth_failed_reply(std::string_view node);

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class State { kIdle, kConnecting, kConnected, kBackoff, kStopped };
  // Connection-level failures (connect failed, connection lost, timeouts), for health checks.
  using OnFailure = std::function<void(const std::string& reason)>;

  Connection(asio::io_context& io, NodeAddress node, ConnectionOptions options,
             std::shared_ptr<NodeStats> stats, OnFailure on_failure = {});
  void start();
  void stop();
  // Stops once every request already sent has been answered (after a reload).
  void retire();
  // `retryable`: safe to send again if the connection breaks before the reply (read-only).
  void send(std::string_view request, ReplyTarget target, bool retryable = false);
  State state() const { return state_; }
  // Why the last attempt to open the connection failed (kNone once it succeeded).
  OpenFailure last_failure() const { return last_failure_; }
  std::size_t inflight() const { return pending_.size(); }

 private:
  struct Pending {
    ReplyTarget target;
    std::chrono::steady_clock::time_point sent;
    std::uint64_t retained_at = 0;   // absolute offset of the request bytes in retained_
    std::uint32_t retained_len = 0;  // 0: not retryable
  };
  enum class Recycle { kNone, kIdle, kAged };

  asio::awaitable<void> run();
  asio::awaitable<bool> connect();
  asio::awaitable<void> read_replies();
  asio::awaitable<void> wait_for_work();
  void deliver_front(std::string_view reply);
  void flush();
  void schedule_flush();
  void arm_timeout();
  void on_timeout();
  void arm_maintenance();
  void on_maintenance();
  void requeue_or_fail(std::string_view reason);
  void fail_pending(std::string_view reason);
  void reply_error(const ReplyTarget& target, std::string_view what);
  void report(const std::string& reason);
  void close_socket();
  void maybe_finish_retire();
  std::string_view retained(const Pending& p) const;
  void trim_retained();

  asio::io_context& io_;
  NodeAddress node_;
  ConnectionOptions options_;
  std::shared_ptr<NodeStats> stats_;  // shared by this worker's connections to the node
  OnFailure on_failure_;
  NodeStream stream_;
  asio::steady_timer timeout_timer_;
  asio::steady_timer backoff_timer_;
  asio::steady_timer maintenance_timer_;
  State state_ = State::kIdle;
  std::string last_error_;
  OpenFailure last_failure_ = OpenFailure::kNone;
  bool flush_posted_ = false;
  bool writing_ = false;
  bool timer_armed_ = false;
  bool retiring_ = false;
  Recycle recycle_ = Recycle::kNone;  // why the connection is being closed on purpose
  bool hold_writes_ = false;          // aged: let the written requests finish, then reconnect
  std::chrono::steady_clock::time_point connected_at_;
  std::chrono::steady_clock::time_point last_used_;
  std::string out_;  // requests not yet handed to the socket
  std::string writing_buf_;
  ByteBuffer in_;
  resp::ReplyFramer framer_;
  // Requests written or queued, in order. The first `timed_out_` were already answered with a
  // timeout error; their replies are dropped when they arrive (they keep their place in line).
  std::deque<Pending> pending_;
  std::size_t timed_out_ = 0;
  std::size_t written_ = 0;  // how many of pending_ have been handed to the socket
  // Copies of retryable requests still pending; retained_[0] is at absolute offset
  // retained_base_.
  std::string retained_;
  std::uint64_t retained_base_ = 0;
  double retry_tokens_ = 10;
  std::uint64_t generation_ = 0;  // bumped per connect: stale write completions are ignored
  std::string scratch_;
};

}  // namespace sidecache::backend
