// A worker's view of the backend nodes: the ring that places keys, this worker's pipelined
// connections to every node, and which nodes are up. Everything here runs on the worker's
// thread; health changes arrive by post (set_node_up).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "backend/connection.hpp"
#include "backend/health.hpp"
#include "config/config.hpp"
#include "resp/errors.hpp"
#include "route/cluster_slots.hpp"
#include "route/ketama_ring.hpp"
#include "sidecache/node_sender.hpp"

namespace sidecache::backend {

class ClusterRequest;

// A cluster pool (config.type kCluster) places keys by slot (config.slots) and looks at every
// error reply of its requests: MOVED and ASK are followed to the node they name, TRYAGAIN and
// CLUSTERDOWN resent after a short wait, up to cluster.max_redirects times, transparently to
// the client. A MOVED also updates this worker's slot map at once and asks for a refresh.
// Ring pools pay nothing for this: their replies go straight to the caller's sink.
class Pool final : public NodeSender, public std::enable_shared_from_this<Pool> {
 public:
  // Registers one NodeStats per node in `stats` (replacing what an earlier pool registered).
  // `health` (may be null) hears about connection failures and says which nodes are up.
  // `want_refresh` (any thread's function): a cluster pool's slot map looks stale (a MOVED), or
  // a sentinel pool's primary answered -READONLY.
  Pool(asio::io_context& io, const config::PoolConfig& config, WorkerStats& stats,
       std::shared_ptr<HealthChecker> health = nullptr, std::function<void()> want_refresh = {});
  ~Pool() override;

  void start();
  void stop();
  // After a reload: answer what was sent, then close (connections stop on their own).
  void retire();

  // Ring nodes, or a cluster's primaries; a cluster pool's replicas (read_from) are numbered
  // after them and only reached by read-only requests (and redirects).
  std::uint32_t node_count() const override {
    return static_cast<std::uint32_t>(config_.nodes.size());
  }
  std::uint32_t node_for_key(std::string_view key) const override {
    return slot_node_.empty() ? router_.node_for_key(key) : slot_node_[route::key_slot(key)];
  }
  std::uint32_t group_count() const override {
    return slot_node_.empty() ? node_count() : route::kClusterSlots;
  }
  std::uint32_t group_of_key(std::string_view key) const override {
    return slot_node_.empty() ? router_.node_for_key(key) : route::key_slot(key);
  }
  std::uint32_t node_of_group(std::uint32_t group) const override {
    return slot_node_.empty() ? group : slot_node_[group];
  }
  std::string_view cross_group_error() const override {
    return slot_node_.empty() ? std::string_view() : resp::errors::kCrossSlotCluster;
  }
  bool by_slot() const override { return !slot_node_.empty(); }
  // Cluster pools: a refreshed map over the same primaries (a slot moved between them).
  void set_slots(const route::ClusterSlots& slots);
  // After a reload or a topology change: requests being redirected continue on `next`. A
  // retired pool lives while requests of its are being redirected (they hold it), and holds
  // its successors alive in turn, so such a request always reaches the current pool.
  void set_successor(std::shared_ptr<Pool> next) { successor_ = std::move(next); }
  void send(std::uint32_t node, std::string_view request, ReplyTarget target) override;
  void send_read(std::uint32_t node, std::string_view request, ReplyTarget target) override;
  const std::string& node_name(std::uint32_t node) const override { return nodes_[node].name; }
  std::uint32_t follow_redirect(bool ask, std::uint16_t slot, std::string_view target) override;

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
    std::string refusal;  // a Sentinel group without a known primary: what its keys get
  };

  friend class ClusterRequest;
  void send_to(std::uint32_t node, std::string_view request, ReplyTarget target, bool retryable);
  // To the node's connection, whatever the pool type (no redirect handling added).
  void send_on(std::uint32_t node, std::string_view request, ReplyTarget target, bool retryable);
  // The node named "host:port" (a primary or a replica), or nodes_.size() when it is not one of
  // this pool's.
  std::uint32_t find_node(std::string_view name) const;
  // Cluster pools: which of config_.replicas serve each primary, as `slots` says.
  void set_replicas(const route::ClusterSlots& slots);
  // Where a read-only request for `primary` goes under cluster.read_from (a replica that is
  // up, spread by lane; else as read_from says).
  std::uint32_t read_node(std::uint32_t primary, std::uint64_t lane) const;
  config::ReadFrom read_from() const {
    return config_.type == config::PoolType::kSentinel ? config_.sentinel.read_from
                                                       : config_.cluster.read_from;
  }
  void rebuild_ring();
  bool auth_failing(const Node& node) const;  // its connections were refused at AUTH
  std::vector<std::shared_ptr<Connection>>& resp3_connections(Node& node);

  config::PoolConfig config_;
  route::Router router_;
  std::vector<std::uint16_t> slot_node_;  // cluster pools: slot -> node (a MOVED updates it)
  std::vector<std::vector<std::uint32_t>> replicas_;  // cluster pools: primary -> its replicas
  std::shared_ptr<Pool> successor_;
  std::function<void()> want_refresh_;
  WorkerStats& worker_stats_;
  std::vector<Node> nodes_;
  std::shared_ptr<HealthChecker> health_;
  asio::io_context& io_;
  ConnectionOptions options_;
  bool started_ = false;
  bool stopped_ = false;
  bool retired_ = false;
  std::string scratch_;
  std::string refusal_;  // a sentinel pool's stand-in node: what every request is answered
};

// The health checker for a pool config; `down` lists nodes known to be down already.
std::shared_ptr<HealthChecker> make_health_checker(const config::PoolConfig& config,
                                                   HealthChecker::OnChange on_change,
                                                   const std::vector<std::string>& down = {});

}  // namespace sidecache::backend
