// The TLS and AUTH settings of each node, replaced on reload. The flushers and the invalidation
// listener keep blocking connections of their own on their own threads; they read a node's
// settings here each time they (re)connect, so certificates, keys and passwords changed by a
// reload apply to their new connections as they do to the workers' (live ones keep working).
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
    next.reserve(pool.nodes.size());
    for (std::uint32_t i = 0; i < pool.nodes.size(); ++i) {
      next.push_back(backend::make_node_security(pool, i));
    }
    const std::lock_guard lock(mutex_);
    nodes_ = std::move(next);
  }

  std::shared_ptr<const backend::NodeSecurity> get(std::uint32_t node) const {
    const std::lock_guard lock(mutex_);
    return node < nodes_.size() ? nodes_[node] : nullptr;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<const backend::NodeSecurity>> nodes_;
};

}  // namespace sidecache::writeback
