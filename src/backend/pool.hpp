// A worker's view of the backend nodes: the ring that places keys, and this worker's pipelined
// connections to every node. Everything here runs on the worker's thread.
#pragma once

#include <memory>
#include <vector>

#include "backend/connection.hpp"
#include "backend/reply_sink.hpp"
#include "config/config.hpp"
#include "route/router.hpp"

namespace sidecache::backend {

class Pool final : public NodeSender {
 public:
  // Registers one NodeStats per node in `stats` (replacing what an earlier pool registered).
  Pool(asio::io_context& io, const config::PoolConfig& config, WorkerStats& stats);
  ~Pool() override;

  void start();
  void stop();

  std::uint32_t node_count() const override { return static_cast<std::uint32_t>(nodes_.size()); }
  std::uint32_t node_for_key(std::string_view key) const override {
    return router_.node_for_key(key);
  }
  void send(std::uint32_t node, std::string_view request, ReplyTarget target) override;

  const std::string& node_name(std::uint32_t node) const override { return nodes_[node].name; }
  // True when at least one connection to the node is connected.
  bool node_connected(std::uint32_t node) const;

 private:
  struct Node {
    std::string name;
    std::vector<std::shared_ptr<Connection>> connections;
    std::uint32_t next = 0;  // round robin over connections
  };

  route::Router router_;
  std::vector<Node> nodes_;
};

// The ring nodes of a pool config (names, weights, ids = node index).
std::vector<route::RingNode> ring_nodes(const config::PoolConfig& config);

}  // namespace sidecache::backend
