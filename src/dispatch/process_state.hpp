// What app/ hands to every worker: the process statistics (sidecache/process_stats.hpp, which
// the metrics endpoint reads) and the wiring the workers share: the cache engines' and writers'
// shared state, the script registry, CLIENT ID numbering.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "cache/shared.hpp"
#include "config/acl.hpp"
#include "config/config.hpp"
#include "dispatch/scripts.hpp"
#include "sidecache/process_stats.hpp"
#include "sidecache/stats.hpp"
#include "write/writer.hpp"

namespace sidecache::dispatch {

using WorkerStats = sidecache::WorkerStats;

struct ProcessState : ProcessStats {
  std::atomic<std::uint64_t> next_client_id{1};  // CLIENT ID
  // The read-through cache shared by the workers' engines (policies, single flight, database
  // threads, statistics); set before the workers are made, even with no policies. Set it with
  // set_cache(), which also publishes its statistics.
  std::shared_ptr<cache::Shared> cache;
  // Write modes: what each worker's write::Writer is made with; null without them. Set it with
  // set_writes(), which also publishes its statistics.
  std::shared_ptr<const write::WriterShared> writes;
  mutable ScriptRegistry scripts;  // Lua bodies seen (SCRIPT LOAD, EVAL), to heal NOSCRIPT

  void set_cache(std::shared_ptr<cache::Shared> shared) {
    cache_stats = shared ? shared->stats_ptr() : nullptr;
    cache = std::move(shared);
  }
  void set_writes(std::shared_ptr<const write::WriterShared> shared) {
    write_stats = shared ? shared->stats : nullptr;
    writes = std::move(shared);
  }
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
