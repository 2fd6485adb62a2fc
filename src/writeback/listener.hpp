// PostgreSQL LISTEN/NOTIFY invalidation: a thread LISTENs on the configured channel; each
// notification's payload is a cache key, deleted from its node (backend::BlockingClient): the
// key's ring node, or on a cluster pool its slot's current owner (MOVED and ASK followed).
// Reconnects with backoff. The trigger that sends the keys is in docs/write-modes.md.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "write/stats.hpp"
#include "writeback/security_book.hpp"

namespace sidecache::writeback {

class Listener {
 public:
  Listener(config::DatabaseConfig database, std::string channel, config::PoolConfig pool,
           std::shared_ptr<const SecurityBook> security, std::shared_ptr<write::WriteStats> stats);
  ~Listener();
  void start();
  void stop();

 private:
  void run();
  // LISTENs (reconnecting) until stopped; `del` deletes one notified key.
  void listen(const std::function<void(const std::string&)>& del);

  config::DatabaseConfig database_;
  std::string channel_;
  config::PoolConfig pool_;
  std::shared_ptr<const SecurityBook> security_;
  std::shared_ptr<write::WriteStats> stats_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace sidecache::writeback
