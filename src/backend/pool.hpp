// A worker's view of the backend nodes: the ring that places keys, this worker's pipelined
// connections to every node, and which nodes are up. Everything here runs on the worker's
// thread; health changes arrive by post (set_node_up).
#pragma once

#include <memory>
#include <vector>

#include "backend/connection.hpp"
#include "backend/health.hpp"
#include "config/config.hpp"
#include "route/ketama_ring.hpp"
#include "sidecache/node_sender.hpp"

namespace sidecache::backend {

class Pool final : public NodeSender {
 public:
  // Registers one NodeStats per node in `stats` (replacing what an earlier pool registered).
  // `health` (may be null) hears about connection failures and says which nodes are up.
  Pool(asio::io_context& io, const config::PoolConfig& config, WorkerStats& stats,
       std::shared_ptr<HealthChecker> health = nullptr);
  ~Pool() override;

  void start();
  void stop();
  // After a reload: answer what was sent, then close (connections stop on their own).
  void retire();

  std::uint32_t node_count() const override { return static_cast<std::uint32_t>(nodes_.size()); }
  std::uint32_t node_for_key(std::string_view key) const override {
    return router_.node_for_key(key);
  }
  void send(std::uint32_t node, std::string_view request, ReplyTarget target) override;
  void send_read(std::uint32_t node, std::string_view request, ReplyTarget target) override;
  const std::string& node_name(std::uint32_t node) const override { return nodes_[node].name; }

  // A node's health changed (from the health checker, posted to this worker).
  void set_node_up(std::uint32_t node, bool up);
  bool node_up(std::uint32_t node) const override { return nodes_[node].up; }
  std::shared_ptr<const NodeSecurity> node_security(std::uint32_t node) const override {
    return nodes_[node].address.security;
  }
  std::uint64_t connection_of(std::uint32_t node, std::uint64_t lane) const override {
    const auto n = nodes_[node].connections.size();
    return n == 0 ? lane : lane % n;
  }
  // True when at least one connection to the node is connected.
  bool node_connected(std::uint32_t node) const;

 private:
  struct Node {
    std::string name;
    std::vector<std::shared_ptr<Connection>> connections;   // RESP2
    std::vector<std::shared_ptr<Connection>> connections3;  // RESP3, made on first use
    Connection::OnFailure on_failure;
    NodeAddress address;
    bool up = true;
    std::shared_ptr<NodeStats> stats;
  };

  void send_to(std::uint32_t node, std::string_view request, ReplyTarget target, bool retryable);
  void rebuild_ring();
  bool auth_failing(const Node& node) const;  // its connections were refused at AUTH
  std::vector<std::shared_ptr<Connection>>& resp3_connections(Node& node);

  config::PoolConfig config_;
  route::Router router_;
  std::vector<Node> nodes_;
  std::shared_ptr<HealthChecker> health_;
  asio::io_context& io_;
  ConnectionOptions options_;
  bool started_ = false;
  bool stopped_ = false;
  bool retired_ = false;
  std::string scratch_;
};

// The health checker for a pool config; `down` lists nodes known to be down already.
std::shared_ptr<HealthChecker> make_health_checker(const config::PoolConfig& config,
                                                   HealthChecker::OnChange on_change,
                                                   const std::vector<std::string>& down = {});

}  // namespace sidecache::backend
