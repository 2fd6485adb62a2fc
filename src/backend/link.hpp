// A dedicated connection to one node for one client: a transaction, a blocking command or the
// client's Pub/Sub subscriptions on that node. Never shared, never retried, no request timeout
// (blocking commands carry their own). Requests queue until the connection is up; replies are
// framed with resp::ReplyFramer and matched in order to the requests that expect one; every
// other frame (pushes, Pub/Sub messages and confirmations) goes to the frame handler.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "backend/connection.hpp"
#include "resp/reply.hpp"
#include "sidecache/link_limiter.hpp"
#include "sidecache/node_sender.hpp"
#include "sidecache/util/asio.hpp"
#include "sidecache/util/byte_buffer.hpp"

namespace sidecache::backend {

struct LinkOptions {
  std::chrono::milliseconds connect_timeout{1000};
  bool resp3 = false;  // speak RESP3 (HELLO 3 first, its reply dropped), as the client does
};

class Link : public std::enable_shared_from_this<Link> {
 public:
  using OnFrame = std::function<void(std::string_view frame)>;
  using OnClose = std::function<void(const std::string& reason)>;
  // Takes a released link whose expected replies are all in (to keep it for reuse).
  using OnIdle = std::function<void(std::shared_ptr<Link> link)>;

  // `ticket` is this link's share of pool.max_dedicated_connections, given back on close.
  Link(asio::any_io_executor executor, NodeAddress node, LinkOptions options,
       LinkLimiter::Ticket ticket);
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Handlers are called on the executor's thread, never after stop(). `on_close` is called
  // once when the connection fails or the node closes it (not after stop() or release()).
  void set_handlers(OnFrame on_frame, OnClose on_close);
  void start();  // once; later calls do nothing (a reused link is running already)
  // One reply expected, delivered to `target`.
  void send(std::string_view request, ReplyTarget target);
  // One reply expected and dropped.
  void send_quiet(std::string_view request);
  // No reply matched: everything the node sends for it goes to the frame handler (SUBSCRIBE).
  void send_unmatched(std::string_view request);
  // Close once every expected reply has been delivered; with `on_idle`, hand the link to it
  // instead (the node holds no state of the client any more: EXEC, DISCARD or a blocking
  // command's reply came in). Handlers are cleared before the hand-over.
  void release(OnIdle on_idle = {});
  // Close now. Expected replies are dropped; no handler runs any more.
  void stop();

  const std::string& node_name() const { return node_.name; }
  const NodeAddress& node() const { return node_; }
  std::size_t expected() const { return pending_.size(); }
  bool stopped() const { return stopped_; }
  bool speaks_resp3() const { return options_.resp3; }

 private:
  asio::awaitable<void> run();
  asio::awaitable<bool> connect();
  asio::awaitable<void> read_frames();
  void on_frame(std::string_view frame);
  void finish_release();
  void flush();
  void fail(const std::string& reason);
  void close_socket();

  asio::any_io_executor executor_;
  NodeAddress node_;
  LinkOptions options_;
  LinkLimiter::Ticket ticket_;
  NodeStream stream_;
  OnFrame on_frame_;
  OnClose on_close_;
  OnIdle on_idle_;
  bool started_ = false;
  bool connected_ = false;
  bool writing_ = false;
  bool releasing_ = false;
  bool stopped_ = false;
  std::string out_;
  std::string writing_buf_;
  ByteBuffer in_;
  resp::ReplyFramer framer_;
  std::deque<ReplyTarget> pending_;  // a target without a sink: the reply is dropped
  std::deque<ReplyTarget> dropped_;  // pending when stopped; released when the task ends
  std::string error_;
};

}  // namespace sidecache::backend
