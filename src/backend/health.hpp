// Active and passive health of the backend nodes, decided in one place for the whole process.
// Its own thread probes every node with PING; workers report connection-level failures. After
// `failure_threshold` consecutive failures a node is down; while down it is probed every
// `interval` (backing off up to `max_interval` only while probes time out, which hold a socket
// for `timeout` each), and once a probe succeeds the confirming probes follow at a quarter of
// the interval, so a restarted node is back within about one interval of answering. It comes
// back after `success_threshold` consecutive successful probes. Every change is
// logged once, with the reason, and handed to `on_change` (called on the checker's thread).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "backend/connection.hpp"
#include "sidecache/util/asio.hpp"
#include "sidecache/util/byte_buffer.hpp"

namespace sidecache::backend {

struct HealthOptions {
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{500};
  std::uint32_t failure_threshold = 3;
  std::uint32_t success_threshold = 2;
  std::chrono::milliseconds max_interval{8000};  // backoff cap while probes of a down node time out
};

class HealthChecker {
 public:
  using OnChange = std::function<void(std::uint32_t node, bool up, const std::string& reason)>;

  // `initially_down`: names of nodes known to be down (carried over a reload).
  HealthChecker(std::vector<NodeAddress> nodes, HealthOptions options, OnChange on_change,
                const std::vector<std::string>& initially_down = {});
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  void start();
  void stop();
  // From any thread: a request-path failure (connect failed, connection lost, timeout).
  void report_failure(std::uint32_t node, std::string reason);
  bool up(std::uint32_t node) const { return nodes_[node]->up.load(std::memory_order_relaxed); }
  std::size_t size() const { return nodes_.size(); }
  std::vector<std::string> down_names() const;

 private:
  struct Node {
    NodeAddress address;
    std::atomic<bool> up{true};
    std::uint32_t failures = 0;   // consecutive, checker thread only
    std::uint32_t successes = 0;  // consecutive while down
    NodeStream stream;            // kept open between probes, opened like every node connection
    ByteBuffer in{1024};
    explicit Node(asio::io_context& io, NodeAddress a)
        : address(std::move(a)), stream(io.get_executor()) {}
  };

  asio::awaitable<void> probe_loop(std::uint32_t index);
  struct Outcome {
    std::string reason;      // empty on success
    bool timed_out = false;  // no answer within the timeout (not refused, not closed)
  };
  asio::awaitable<Outcome> probe(Node& node);
  std::chrono::milliseconds next_wait(const Node& node, const Outcome& outcome,
                                      std::chrono::milliseconds last) const;
  void record(std::uint32_t index, bool ok, const std::string& reason);

  HealthOptions options_;
  OnChange on_change_;
  asio::io_context io_{1};
  std::vector<std::unique_ptr<Node>> nodes_;
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace sidecache::backend
