// What every worker can see about the whole process: configuration, start time, and the
// per-worker statistics (each written by its own worker, summed by readers).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/link_limiter.hpp"
#include "cache/shared.hpp"
#include "config/acl.hpp"
#include "config/config.hpp"
#include "db/stats.hpp"
#include "dispatch/scripts.hpp"
#include "sidecache/stats.hpp"
#include "write/writer.hpp"

namespace sidecache::dispatch {

using WorkerStats = sidecache::WorkerStats;

struct ProcessState {
  // The configuration in force; replaced on reload. Read it with current_config() from any
  // thread.
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const config::Config> current_config() const {
    const std::lock_guard lock(config_mutex);
    return config;
  }
  void set_config(std::shared_ptr<const config::Config> next) {
    const std::lock_guard lock(config_mutex);
    config = std::move(next);
  }
  mutable std::mutex config_mutex;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<WorkerStats>> workers;
  std::atomic<std::int64_t> clients{0};          // across workers, for limits.max_clients
  std::atomic<std::uint64_t> next_client_id{1};  // CLIENT ID
  std::atomic<std::uint64_t> reloads_ok{0};
  std::atomic<std::uint64_t> reloads_failed{0};
  // The read-through cache shared by the workers' engines (policies, single flight, database
  // threads, statistics); set before the workers are made, even with no policies.
  std::shared_ptr<cache::Shared> cache;
  // Write modes (issue 6): what each worker's write::Writer is made with; null without them.
  std::shared_ptr<const write::WriterShared> writes;

  // The database threads' statistics (db::Executor), while a database is configured; whoever
  // starts or replaces the executor sets it (nullptr: no sidecache_db_* metrics).
  std::shared_ptr<const db::ExecutorStats> db_stats() const {
    const std::lock_guard lock(config_mutex);
    return db_stats_;
  }
  void set_db_stats(std::shared_ptr<const db::ExecutorStats> stats) {
    const std::lock_guard lock(config_mutex);
    db_stats_ = std::move(stats);
  }
  std::shared_ptr<const db::ExecutorStats> db_stats_;
  // Dedicated node connections of all workers, against pool.max_dedicated_connections.
  backend::LinkLimiter dedicated_links;
  mutable ScriptRegistry scripts;  // Lua bodies seen (SCRIPT LOAD, EVAL), to heal NOSCRIPT
};

// Holds one unit of a per-worker gauge while set (RESP3 clients), released on destruction.
class GaugeHold {
 public:
  GaugeHold() = default;
  GaugeHold(const GaugeHold&) = delete;
  GaugeHold& operator=(const GaugeHold&) = delete;
  ~GaugeHold() { release(); }
  void hold(Gauge& gauge) {
    if (gauge_ == &gauge) return;
    release();
    gauge_ = &gauge;
    gauge_->add(1);
  }
  void release() {
    if (gauge_ != nullptr) gauge_->add(-1);
    gauge_ = nullptr;
  }

 private:
  Gauge* gauge_ = nullptr;
};

// Per-client state the local commands read and change.
struct ClientState {
  std::uint64_t id = 0;
  std::string name;
  std::string lib_name;
  std::string lib_version;
  int protocol = 2;   // RESP version the client speaks: 2, or 3 after HELLO 3
  bool quit = false;  // QUIT was read: close once its reply is written
  GaugeHold resp3;    // counted in WorkerStats::resp3_clients while protocol == 3
  // Access control (auth:, commands.deny). The session keeps `config` in step with its
  // worker's before each batch of requests; `user` points into config->acl.
  std::shared_ptr<const config::Config> config;
  bool guarded = false;  // config has users or denied commands: check_access() has work to do
  const config::AclUser* user = nullptr;  // authenticated as; null under auth: NOAUTH
  std::uint32_t auth_failures = 0;        // failed AUTH attempts on this connection
  bool auth_failed = false;  // the last request was a failed AUTH (the session slows down)
};

}  // namespace sidecache::dispatch
