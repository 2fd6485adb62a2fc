// Which policies the write path uses, from the same snapshot as the read-through engine
// (cache::Shared): a reload swaps both at once. Remembers the behind policies a reload took
// away, so entries already queued for them are still written (docs/write-modes.md, "Reload").
// Thread-safe. Asio-free.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "cache/shared.hpp"
#include "config/config.hpp"

namespace sidecache::write {

class PolicyBook {
 public:
  explicit PolicyBook(std::shared_ptr<cache::Shared> cache) : cache_(std::move(cache)) {}

  const std::shared_ptr<cache::Shared>& cache() const { return cache_; }
  std::shared_ptr<const cache::Snapshot> snapshot() const { return cache_->snapshot(); }

  // Call before `next` replaces the running policies: behind policies that `next` drops or
  // gives another write mode are kept here (by name); those `next` writes behind again are
  // forgotten. Returns the names retired by this call.
  std::vector<std::string> retire(const config::CacheConfig& next);

  // The policy entries queued under `name` are written with: the running behind policy of
  // that name, else the last behind policy of that name this process ran (retired by a
  // reload), else null (never seen here: e.g. queued by a sidecache with another config).
  // `retired` tells which.
  std::shared_ptr<const cache::Policy> behind(const std::string& name,
                                              bool* retired = nullptr) const;

  // The TTL a key of policy `name` gets back once nothing is queued for it: the running
  // policy's of that name (any mode), else the retired one's, else 0 (none).
  std::chrono::milliseconds ttl(const std::string& name) const;

  // cache.write_behind (the queue-wide options) of the configuration in force: set at startup
  // and by every reload, re-read by the flushers every round.
  void set_queue_options(const config::WriteBehindQueueConfig& options);
  config::WriteBehindQueueConfig queue_options() const;

 private:
  std::shared_ptr<cache::Shared> cache_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const cache::Policy>, std::less<>> retired_;
  config::WriteBehindQueueConfig queue_options_;
};

// Whether any policy of `set` writes behind.
bool any_behind(const cache::PolicySet& set);

}  // namespace sidecache::write
