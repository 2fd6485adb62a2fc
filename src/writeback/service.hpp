// The process-wide part of the write modes: the queue names, one write-behind flusher per
// node (a cluster pool: one ClusterFlusher for the queues of all slots), and the LISTEN/NOTIFY
// invalidation listener. Created by the daemon when a database is configured. The policies come
// from the read-through engine's snapshot (cache::Shared), and database calls go to its database
// threads: one policy set and one connection pool for reads and writes; a reload changes both at
// once. Asio-free.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cache/shared.hpp"
#include "config/config.hpp"
#include "write/policy_book.hpp"
#include "write/writer.hpp"
#include "writeback/security_book.hpp"

namespace sidecache::writeback {

class ClusterFlusher;
class Flusher;
class Listener;

class Service {
 public:
  // Null when the configuration has no cache.database (write modes need one).
  static std::unique_ptr<Service> create(const config::Config& config,
                                         std::shared_ptr<cache::Shared> cache);
  ~Service();

  // What each worker's Writer is made with.
  std::shared_ptr<const write::WriterShared> shared() const { return shared_; }
  const std::shared_ptr<write::WriteStats>& stats() const { return shared_->stats; }
  // How the read-through engine stores loads of behind policies (write/behind_store.hpp).
  std::shared_ptr<cache::StoreHook> store_hook() const;

  // Reload, in this order: before_apply(next) before `next` replaces the running policies in
  // cache::Shared (behind policies it takes away stay known to the flushers, so what is
  // queued for them is still written), then apply(next) (flushers start with the first behind
  // policy; once started they stay, to drain what is queued).
  void before_apply(const config::CacheConfig& next);
  void apply(const config::Config& config);
  // The pool in force changed (a reload, or a sentinel pool's or Sentinel group's new primary):
  // when it has the startup node layout, the flushers and the listener follow its addresses,
  // TLS and AUTH from their next round. False (nothing followed) for another layout.
  bool follow(const config::PoolConfig& pool);

  void start();
  // Flushers write what they can within `drain`; the rest stays queued in Redis.
  void stop(std::chrono::milliseconds drain);

 private:
  Service(const config::Config& config, std::shared_ptr<cache::Shared> cache);
  void make_flushers();

  std::shared_ptr<write::PolicyBook> book_;
  std::shared_ptr<write::WriterShared> shared_;
  config::PoolConfig pool_;  // of the startup config: the queue names are fixed at startup
  std::shared_ptr<SecurityBook> security_;  // of the running config: TLS and AUTH per node
  config::DatabaseConfig database_;
  std::string consumer_;
  std::string channel_;
  std::mutex mutex_;  // flushers_, started_, stopped_ (apply runs on the reload thread)
  std::vector<std::unique_ptr<Flusher>> flushers_;
  std::unique_ptr<ClusterFlusher> cluster_flusher_;  // a cluster pool: one queue per slot
  std::unique_ptr<Listener> listener_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace sidecache::writeback
