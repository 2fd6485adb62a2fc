// The process-wide part of the write modes: the database threads writers use, the queue names,
// one write-behind flusher per node, and the LISTEN/NOTIFY invalidation listener. Created by
// the daemon when a policy has a write mode or cache.invalidation_channel is set. Asio-free.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "write/writer.hpp"

namespace sidecache::db {
class Executor;
}

namespace sidecache::write {

class Flusher;
class Listener;

class Service {
 public:
  // Null when the configuration uses no write mode and no invalidation channel.
  static std::unique_ptr<Service> create(const config::Config& config);
  ~Service();

  // What each worker's Writer is made with.
  std::shared_ptr<const WriterShared> shared() const { return shared_; }
  const std::shared_ptr<WriteStats>& stats() const { return shared_->stats; }

  void start();
  // Flushers write what they can within `drain`; the rest stays queued in Redis.
  void stop(std::chrono::milliseconds drain);

 private:
  explicit Service(const config::Config& config);

  std::unique_ptr<db::Executor> executor_;
  std::shared_ptr<WriterShared> shared_;
  std::vector<std::unique_ptr<Flusher>> flushers_;
  std::unique_ptr<Listener> listener_;
  bool stopped_ = false;
};

}  // namespace sidecache::write
