// Counts the dedicated (non-shared) node connections of the whole process, per node, so that
// transactions, blocking commands and Pub/Sub cannot open an unbounded number of connections to
// a node (pool.max_dedicated_connections). Taken once per dedicated connection, never on the
// shared request path: a mutex is enough.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sidecache {

class LinkLimiter {
 public:
  // Holds one unit of a node's budget until released or destroyed. Move-only.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(LinkLimiter* limiter, std::string node) : limiter_(limiter), node_(std::move(node)) {}
    Ticket(Ticket&& other) noexcept
        : limiter_(std::exchange(other.limiter_, nullptr)), node_(std::move(other.node_)) {}
    Ticket& operator=(Ticket&& other) noexcept {
      if (this != &other) {
        release();
        limiter_ = std::exchange(other.limiter_, nullptr);
        node_ = std::move(other.node_);
      }
      return *this;
    }
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { release(); }
    void release() {
      if (limiter_ != nullptr) std::exchange(limiter_, nullptr)->put_back(node_);
    }
    bool held() const { return limiter_ != nullptr; }

   private:
    LinkLimiter* limiter_ = nullptr;
    std::string node_;
  };

  // A ticket for `node` unless `cap` tickets for it are out already (then an empty ticket).
  Ticket acquire(const std::string& node, std::uint32_t cap) {
    const std::lock_guard lock(mutex_);
    std::uint32_t& used = used_[node];
    if (used >= cap) return {};
    ++used;
    return Ticket(this, node);
  }

  // Tickets out per node (nodes that ever had one), for metrics.
  std::vector<std::pair<std::string, std::uint32_t>> snapshot() const {
    const std::lock_guard lock(mutex_);
    return {used_.begin(), used_.end()};
  }

 private:
  void put_back(const std::string& node) {
    const std::lock_guard lock(mutex_);
    auto it = used_.find(node);
    if (it != used_.end() && it->second > 0) --it->second;
  }

  mutable std::mutex mutex_;
  std::map<std::string, std::uint32_t> used_;
};

}  // namespace sidecache
