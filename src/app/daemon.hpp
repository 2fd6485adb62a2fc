// The running process: workers, the health checker, signals, live reload and graceful drain.
//   SIGHUP or a changed config file: validate the file; apply it, or keep the running config.
//   SIGTERM / SIGINT: stop accepting, answer what was read, exit 0 within process.drain_timeout;
//   a second signal exits at once.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/memory_trim.hpp"
#include "app/near_cache_wiring.hpp"
#include "backend/health.hpp"
#include "backend/sentinel_watch.hpp"
#include "config/config.hpp"
#include "db/executor.hpp"
#include "dispatch/process_state.hpp"
#include "metrics/http_endpoint.hpp"
#include "server/worker.hpp"
#include "sidecache/util/asio.hpp"
#include "writeback/service.hpp"

namespace sidecache::app {

class Daemon {
 public:
  Daemon(config::Config config, std::string config_path);
  ~Daemon();
  // Binds, runs until stopped; returns the exit code.
  int run();

 private:
  struct FileStamp {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };

  std::shared_ptr<backend::HealthChecker> make_health(const config::Config& config,
                                                      const std::vector<std::string>& down);
  void reload(const char* why);
  // A validated configuration takes effect: a new generation of pools on every worker and a
  // new health checker. Reloads and cluster topology changes both come here.
  void apply_config(std::shared_ptr<const config::Config> next);
  // Cluster pools: `config` with the topology the cluster gives now (asked of its current
  // primaries, then its seeds); when no node answers, the topology of `known` (if a cluster
  // pool's), else the seeds alone. Blocking: the control thread's (or startup's).
  config::Config with_cluster_topology(config::Config config, const config::Config* known);
  // Asks the cluster for its slot map; a change takes effect (slots only: the workers' maps;
  // other primaries: apply_config).
  void refresh_cluster(const char* why);
  // Cluster and sentinel pools: refreshes every refresh_interval, and soon (at most once per
  // refresh_min_interval) when a worker or the health checker asks.
  asio::awaitable<void> watch_topology();
  // Sentinel pools (sentinel_wiring.cpp). with_sentinel_primary: `config` with the primary the
  // Sentinels name now; when none is found, the primary of `known` (same master), else the
  // stand-in that refuses requests. refresh_sentinel: asks again (`hint`, a +switch-master's
  // address, first); another primary takes effect through apply_config.
  // update_sentinel_watch: the +switch-master subscriptions match the config in force.
  config::Config with_sentinel_primary(config::Config config, const config::Config* known);
  void refresh_sentinel(const char* why, const std::optional<config::Endpoint>& hint = {});
  void on_switch_master(const backend::SwitchMaster& event, const std::string& sentinel);
  void update_sentinel_watch();
  // A ring of Sentinel groups (sentinel_ring_wiring.cpp). refresh_group: asks for node
  // `index`'s primary (`hint` first) and updates it in `pool`; true when it changed.
  // with_group_primaries: every group's primary asked now; a group none is found for keeps its
  // primary of `known` (same name and master), else refuses its keys. refresh_groups: asks
  // again for every group (or `master`'s); changes take effect through apply_config.
  bool refresh_group(config::PoolConfig& pool, std::size_t index, const char* why,
                     const std::optional<config::Endpoint>& hint);
  config::Config with_group_primaries(config::Config config, const config::Config* known);
  void refresh_groups(const char* why, const std::string* master = nullptr,
                      const std::optional<config::Endpoint>& hint = {});
  // The read-through cache (cache_wiring.cpp). prepare_cache: database threads for `config`
  // (started once) and its policies validated against the database; an error names the
  // policy's file:line. apply_cache: the policies take effect; those with `warm:` are warmed.
  std::string prepare_cache(const config::Config& config);
  void apply_cache(const config::Config& config);
  void stop_cache();
  void on_signal(int signal);
  void begin_drain();
  void stop_now();
  asio::awaitable<void> watch_config();
  static FileStamp stamp(const std::string& path);

  std::string path_;
  std::shared_ptr<const config::Config> config_;
  dispatch::ProcessState process_;
  std::shared_ptr<backend::HealthChecker> health_;
  std::shared_ptr<db::Executor> db_;  // database threads; null until a policy needs them
  std::atomic<std::uint64_t> generation_{0};
  std::vector<std::unique_ptr<server::Worker>> workers_;
  // The process-wide part of write-behind (queues, flushers, listener); null without it.
  std::unique_ptr<writeback::Service> writes_;
  // The near cache and its tracking connections; null without near_cache.enabled.
  std::unique_ptr<NearCacheService> near_;
  // When the drain began (steady clock ticks; 0: no drain): flushers get what is left of it.
  std::atomic<std::chrono::steady_clock::rep> drain_started_{0};
  std::unique_ptr<metrics::HttpEndpoint> http_;  // /metrics and probes; null without `http:`
  asio::io_context control_{1};  // signals, file watch, drain timer: the main thread's loop
  asio::signal_set signals_{control_};
  asio::steady_timer drain_timer_{control_};
  MemoryTrimmer trimmer_{control_};
  bool draining_ = false;
  FileStamp stamp_;
  std::shared_ptr<backend::SentinelWatch> sentinel_watch_;  // control thread only
  std::string sentinel_error_;  // the last failed ask's reason (logged once per change)
  std::map<std::string, std::string> group_errors_;  // the same per group master
};

}  // namespace sidecache::app
