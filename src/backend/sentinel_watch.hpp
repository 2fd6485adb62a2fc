// Subscriptions to +switch-master on every Sentinel of a sentinel pool, run as coroutines on
// the daemon's control io_context (one connection per Sentinel, no thread of its own: the
// control loop already runs the topology refreshes, and a subscription only waits). A lost
// subscription is reopened with backoff; a message for one of the pool's masters (a sentinel
// pool's one, or every group of a ring) is handed to `on_switch` on the control thread. A
// subscribed connection is PINGed every second and closed after 3 s without a byte from the
// Sentinel (the channel itself may be silent for days). stop() closes every connection; the
// coroutines end.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/node_stream.hpp"
#include "backend/sentinel_topology.hpp"
#include "config/config.hpp"
#include "sidecache/util/asio.hpp"

namespace sidecache::backend {

class SentinelWatch : public std::enable_shared_from_this<SentinelWatch> {
 public:
  // `on_switch`: a +switch-master for our master, and which Sentinel sent it.
  using OnSwitch = std::function<void(const SwitchMaster&, const std::string& sentinel)>;
  // `on_resubscribed`: a subscription came back after it was lost (a switch may be missed).
  SentinelWatch(asio::io_context& io, const config::PoolConfig& pool,
                std::vector<std::string> masters, OnSwitch on_switch,
                std::function<void()> on_resubscribed, std::atomic<std::int64_t>& subscribed);
  ~SentinelWatch();
  SentinelWatch(const SentinelWatch&) = delete;
  SentinelWatch& operator=(const SentinelWatch&) = delete;

  void start();
  void stop();
  const config::SentinelConfig& config() const { return config_; }
  const std::vector<std::string>& masters() const { return masters_; }

 private:
  struct Link {
    NodeAddress address;
    NodeStream stream;
    asio::steady_timer timer;
    asio::steady_timer keepalive;  // PING while subscribed; silence closes the stream
    std::uint64_t session = 0;     // bumped by each listen(): an older keepalive ends
    std::chrono::steady_clock::time_point last_seen{};  // bytes last read from the Sentinel
    bool subscribed = false;
    std::string last_error;  // logged once per change
    Link(asio::io_context& io, NodeAddress a)
        : address(std::move(a)), stream(io.get_executor()), timer(io), keepalive(io) {}
  };

  asio::awaitable<void> follow(std::size_t index);
  // Subscribes and reads messages until the connection fails; returns why.
  asio::awaitable<std::string> listen(Link& link);
  // While `session` is the link's: PINGs the subscribed connection every kPingInterval and
  // closes it when nothing was read for kSilenceLimit (a Sentinel that hangs without closing
  // the connection; listen() then returns and the link reconnects).
  asio::awaitable<void> keep_alive(Link& link, std::uint64_t session);
  void set_subscribed(Link& link, bool subscribed);

  asio::io_context& io_;
  config::SentinelConfig config_;
  std::vector<std::string> masters_;
  std::chrono::milliseconds connect_timeout_;
  OnSwitch on_switch_;
  std::function<void()> on_resubscribed_;
  std::atomic<std::int64_t>& subscribed_;
  std::vector<std::unique_ptr<Link>> links_;
  bool stopped_ = false;
};

}  // namespace sidecache::backend
