// The address and the TLS and AUTH settings of each node, replaced on reload and when a
// sentinel pool's node (or a ring's Sentinel group) moves to a new primary. The flushers and
// the invalidation listener keep blocking connections of their own on their own threads; they
// read a node's settings here each time they (re)connect, so certificates, keys and passwords
// changed by a reload apply to their new connections as they do to the workers' (live ones
// keep working), and they check the address before each round: a connection to a node's old
// address is closed and the new one connected.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "backend/node_stream.hpp"
#include "config/config.hpp"

namespace sidecache::writeback {

class SecurityBook {
 public:
  explicit SecurityBook(const config::PoolConfig& pool) { set(pool); }

  // From a pool with the same nodes in the same order (the background side keeps the startup
  // node list).
  void set(const config::PoolConfig& pool) {
    std::vector<std::shared_ptr<const backend::NodeSecurity>> next;
    std::vector<config::Endpoint> addresses;
    next.reserve(pool.nodes.size());
    for (std::uint32_t i = 0; i < pool.nodes.size(); ++i) {
      next.push_back(backend::make_node_security(pool, i));
      addresses.push_back(pool.nodes[i].address);
    }
    const std::lock_guard lock(mutex_);
    nodes_ = std::move(next);
    addresses_ = std::move(addresses);
  }

  // Where node `node` is now (empty while a sentinel pool knows no primary for it).
  config::Endpoint address(std::uint32_t node) const {
    const std::lock_guard lock(mutex_);
    return node < addresses_.size() ? addresses_[node] : config::Endpoint{};
  }

  std::shared_ptr<const backend::NodeSecurity> get(std::uint32_t node) const {
    const std::lock_guard lock(mutex_);
    return node < nodes_.size() ? nodes_[node] : nullptr;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<const backend::NodeSecurity>> nodes_;
  std::vector<config::Endpoint> addresses_;
};

}  // namespace sidecache::writeback
