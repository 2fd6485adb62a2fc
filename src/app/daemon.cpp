#include "app/daemon.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "app/cpu_limit.hpp"
#include "backend/cluster_topology.hpp"
#include "hotkeys/board.hpp"
#include "resp/command_table.hpp"

namespace sidecache::app {
namespace {

unsigned worker_count(const config::Config& config) {
  if (config.workers != 0) return config.workers;
  const unsigned cores = std::thread::hardware_concurrency();
  const auto limit = cgroup_cpu_limit("/sys/fs/cgroup", "/proc/self/cgroup");
  const unsigned workers = default_worker_count(cores, limit);
  spdlog::info("workers: 0: {} workers ({} cores, cgroup CPU limit {})", workers, cores,
               limit ? std::to_string(*limit) : std::string("none"));
  return workers;
}

std::string node_list(const config::Config& config) {
  std::string out;
  for (const auto& n : config.pool.nodes) {
    if (!out.empty()) out += ", ";
    out += n.name + "=" + config::format_endpoint(n.address) + "/" + std::to_string(n.weight);
  }
  return out;
}

bool same_names(const std::vector<config::NodeConfig>& a,
                const std::vector<config::NodeConfig>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name) return false;
  }
  return true;
}

// Whether the node named `name` has another address in `after` than in `before`.
bool moved(const std::vector<config::NodeConfig>& before,
           const std::vector<config::NodeConfig>& after, const std::string& name) {
  const auto named = [&](const config::NodeConfig& n) { return n.name == name; };
  const auto a = std::find_if(before.begin(), before.end(), named);
  const auto b = std::find_if(after.begin(), after.end(), named);
  return a != before.end() && b != after.end() && !(a->address == b->address);
}

// Same nodes to connect to (a cluster pool's replicas included).
bool same_nodes(const config::PoolConfig& a, const config::PoolConfig& b) {
  return same_names(a.nodes, b.nodes) && same_names(a.replicas, b.replicas);
}

void log_startup(const config::Config& config, unsigned workers) {
  spdlog::info("sidecache {} starting: listen {}, {} workers, config {}", SIDECACHE_VERSION,
               config::format_endpoint(config.listen), workers, config.source);
  const auto& pool = config.pool;
  if (pool.type == config::PoolType::kCluster) {
    spdlog::info("pool: cluster ({} of 16384 slots known), {} connection(s) per node per worker",
                 pool.slots ? pool.slots->covered() : 0, pool.connections_per_node);
    spdlog::info("primaries: {}", node_list(config));
    return;
  }
  if (pool.type == config::PoolType::kSentinel) {
    spdlog::info(
        "pool: sentinel, master '{}' watched by {} Sentinel(s), {} connection(s) per "
        "worker; primary: {}",
        pool.sentinel.master, pool.sentinel.sentinels.size(), pool.connections_per_node,
        pool.unresolved.empty() ? pool.nodes.at(0).name : std::string("none known"));
    return;
  }
  spdlog::info(
      "pool: ketama, hash {}, hash_tag {}, down_policy {}, {} connection(s) per node per worker",
      route::hash_kind_name(pool.hash),
      pool.hash_tag.enabled ? std::string{pool.hash_tag.open, pool.hash_tag.close}
                            : std::string("off"),
      pool.down_policy == config::DownPolicy::kRemap ? "remap" : "fail_fast",
      pool.connections_per_node);
  spdlog::info("nodes: {}", node_list(config));
}

// Runs `bind`; what it throws is rethrown naming the config key at fault, when the file set it
// ("file:line:col: listen: cannot listen on ...: Address already in use").
template <typename Bind>
void at_key(const config::Config& config, std::string_view key, Bind&& bind) {
  try {
    bind();
  } catch (const std::exception& e) {
    const auto origin = config.origins.find(key);
    if (origin == config.origins.end()) throw;
    throw std::runtime_error(origin->second + ": " + std::string(key) + ": " + e.what());
  }
}

}  // namespace

Daemon::Daemon(config::Config config, std::string config_path)
    : path_(std::move(config_path)),
      config_(std::make_shared<const config::Config>(std::move(config))) {
  process_.set_config(config_);
  stamp_ = stamp(path_);
}

Daemon::~Daemon() {
  if (health_) health_->stop();  // first: its callbacks reach into the workers
  if (process_.cache) process_.cache->flights().clear();
  workers_.clear();
  stop_cache();
}

std::shared_ptr<backend::HealthChecker> Daemon::make_health(const config::Config& config,
                                                            const std::vector<std::string>& down) {
  // A sentinel pool's stand-in for an unknown primary has nothing to probe.
  if (!config.pool.unresolved.empty()) return nullptr;
  const std::uint64_t generation = generation_.load();
  return backend::make_health_checker(
      config.pool,
      [this, generation](std::uint32_t node, bool up, const std::string&) {
        // A cluster or sentinel primary that fails may have been replaced: look soon.
        if (!up) process_.cluster_refresh_wanted.store(true, std::memory_order_relaxed);
        if (!near_) {
          for (auto& w : workers_) w->set_node_up(generation, node, up);
          return;
        }
        // The L1 is emptied once every worker routes by the new ring: emptied before, a read
        // still routed by the old ring could store the other node's value after the drop.
        auto left = std::make_shared<std::atomic<std::size_t>>(workers_.size());
        for (auto& w : workers_) {
          w->set_node_up(generation, node, up, [this, left, node, up] {
            if (left->fetch_sub(1) == 1 && near_) near_->on_node_health(node, up);
          });
        }
      },
      down);
}

int Daemon::run() {
  if (config_->pool.type == config::PoolType::kCluster) {
    config_ = std::make_shared<const config::Config>(with_cluster_topology(*config_, nullptr));
    process_.set_config(config_);
  } else if (config_->pool.type == config::PoolType::kSentinel) {
    config_ = std::make_shared<const config::Config>(with_sentinel_primary(*config_, nullptr));
    process_.set_config(config_);
  } else if (config_->pool.sentinel_groups()) {
    config_ = std::make_shared<const config::Config>(with_group_primaries(*config_, nullptr));
    process_.set_config(config_);
  }
  const unsigned workers = worker_count(*config_);
  log_startup(*config_, workers);
  for (unsigned i = 0; i < workers; ++i) {
    process_.workers.push_back(std::make_unique<WorkerStats>(resp::CommandTable::id_count()));
  }
  process_.hotkeys = std::make_shared<hotkeys::Board>(workers);
  health_ = make_health(*config_, {});
  process_.set_cache(
      std::make_shared<cache::Shared>(nullptr, std::make_shared<cache::CacheStats>()));
  if (auto error = prepare_cache(*config_); !error.empty()) {
    spdlog::critical("{}", error);
    return 1;
  }
  try {
    writes_ = writeback::Service::create(*config_, process_.cache);
    if (writes_) {
      process_.set_writes(writes_->shared());
      process_.cache->set_store_hook(writes_->store_hook());
    }
    near_ = NearCacheService::create(*config_);
    if (near_) process_.near_cache = near_->cache();
    for (unsigned i = 0; i < workers; ++i) {
      workers_.push_back(std::make_unique<server::Worker>(i, process_, config_, health_));
      at_key(*config_, "listen", [&] { workers_.back()->listen(); });
    }
    // Binds http.listen.
    at_key(*config_, "http.listen", [&] { http_ = metrics::HttpEndpoint::create(process_); });
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }

  signals_.add(SIGINT);
  signals_.add(SIGTERM);
  signals_.add(SIGHUP);
  std::function<void(const boost::system::error_code&, int)> handler =
      [this, &handler](const boost::system::error_code& ec, int signal) {
        if (ec) return;
        on_signal(signal);
        signals_.async_wait(handler);
      };
  signals_.async_wait(handler);
  asio::co_spawn(control_, watch_config(), asio::detached);
  asio::co_spawn(control_, watch_topology(), asio::detached);
  update_sentinel_watch();
  trimmer_.start();

  apply_cache(*config_);  // before the workers start: they answer with the policies at once
  if (health_) health_->start();
  if (writes_) writes_->start();
  if (near_) near_->start();
  for (auto& w : workers_) w->start();
  if (http_) http_->start();
  spdlog::info("ready: connect with redis-cli -h {} -p {}", config_->listen.host,
               config_->listen.port);
  std::thread control_thread([this] { control_.run(); });
  for (auto& w : workers_) w->join();
  if (process_.cache) process_.cache->flights().clear();  // sessions go while workers exist
  // Flushers write what they can within the drain timeout; the rest stays queued in Redis.
  if (writes_) {
    auto left = config_->process.drain_timeout;
    if (const auto started = drain_started_.load(); started != 0) {
      const auto spent =
          std::chrono::steady_clock::now() -
          std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(started));
      left = std::max(std::chrono::milliseconds(500),
                      left - std::chrono::duration_cast<std::chrono::milliseconds>(spent));
    }
    writes_->stop(left);
  }
  http_.reset();
  if (near_) near_->stop();
  stop_cache();
  control_.stop();
  control_thread.join();
  spdlog::info("sidecache stopped");
  return 0;
}

void Daemon::on_signal(int signal) {
  if (signal == SIGHUP) return reload("SIGHUP");
  const char* name = signal == SIGTERM ? "SIGTERM" : "SIGINT";
  if (draining_) {
    spdlog::warn("{} received again: stopping now", name);
    return stop_now();
  }
  spdlog::info("{} received: draining (up to {} ms)", name, config_->process.drain_timeout.count());
  begin_drain();
}

void Daemon::begin_drain() {
  drain_started_.store(std::chrono::steady_clock::now().time_since_epoch().count());
  draining_ = true;
  if (http_) http_->set_draining();  // /readyz: 503 while open requests finish
  for (auto& w : workers_) w->drain();
  drain_timer_.expires_after(config_->process.drain_timeout);
  drain_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    spdlog::warn("drain timeout reached: stopping with requests still open");
    stop_now();
  });
}

void Daemon::stop_now() {
  drain_timer_.cancel();
  for (auto& w : workers_) w->stop();
}

void Daemon::reload(const char* why) {
  if (draining_) return;
  config::Config loaded;
  try {
    loaded = config::load_file(path_, {.resolve_nodes = true});
  } catch (const std::exception& e) {
    process_.reloads_failed.fetch_add(1);
    spdlog::error("reload ({}) failed, keeping the running configuration: {}", why, e.what());
    return;
  }
  stamp_ = stamp(path_);
  for (const auto& warning : loaded.warnings) spdlog::warn("reload ({}): config: {}", why, warning);
  // Passwords and certificates live in files of their own: with them, a reload applies even
  // when the config file is unchanged (SIGHUP after a rotation).
  const bool external_files = loaded.listen_tls || loaded.acl;
  if (loaded.digest == config_->digest && !external_files) {
    spdlog::info("reload ({}): configuration unchanged", why);
    return;
  }
  if (static_cast<bool>(loaded.listen_tls) != static_cast<bool>(config_->listen_tls) ||
      (loaded.listen_tls &&
       !(loaded.listen_tls->listen.host == config_->listen_tls->listen.host &&
         loaded.listen_tls->listen.port == config_->listen_tls->listen.port))) {
    spdlog::warn("reload: listen_tls address added, removed or changed: needs a restart");
  }
  // What cannot change without a restart keeps its running value.
  if (!(loaded.listen.host == config_->listen.host && loaded.listen.port == config_->listen.port)) {
    spdlog::warn("reload: listen changed to {}: needs a restart; still listening on {}",
                 config::format_endpoint(loaded.listen), config::format_endpoint(config_->listen));
    loaded.listen = config_->listen;
  }
  if (loaded.workers != config_->workers) {
    spdlog::warn("reload: workers changed to {}: needs a restart; keeping {}", loaded.workers,
                 config_->workers);
    loaded.workers = config_->workers;
  }
  if (loaded.logging.format != config_->logging.format) {
    spdlog::warn("reload: logging.format changed: needs a restart");
    loaded.logging.format = config_->logging.format;
  }
  if (auto error = prepare_cache(loaded); !error.empty()) {
    process_.reloads_failed.fetch_add(1);
    spdlog::error("reload ({}) failed, keeping the running configuration: {}", why, error);
    return;
  }
  spdlog::set_level(spdlog::level::from_str(loaded.logging.level));
  if (loaded.pool.type == config::PoolType::kCluster) {
    loaded = with_cluster_topology(std::move(loaded), config_.get());
  } else if (loaded.pool.type == config::PoolType::kSentinel) {
    loaded = with_sentinel_primary(std::move(loaded), config_.get());
  } else if (loaded.pool.sentinel_groups()) {
    loaded = with_group_primaries(std::move(loaded), config_.get());
  }

  auto next = std::make_shared<const config::Config>(std::move(loaded));
  apply_config(next);
  apply_cache(*next);
  update_sentinel_watch();
  process_.reloads_ok.fetch_add(1);
  spdlog::info("reload ({}): applied configuration {} ({}); nodes: {}", why, path_, next->digest,
               node_list(*next));
}

void Daemon::apply_config(std::shared_ptr<const config::Config> next) {
  auto down = health_ ? health_->down_names() : std::vector<std::string>{};
  // A node now at another address (a Sentinel group's new primary, a reload) starts up: the
  // down state was the old server's.
  std::erase_if(down, [&](const std::string& name) {
    return moved(config_->pool.nodes, next->pool.nodes, name);
  });
  const std::uint64_t generation = generation_.fetch_add(1) + 1;
  auto health = make_health(*next, down);
  // New patterns, or new nodes (a reload, a Sentinel switch): the L1 starts empty, every node
  // counts as untracked, and the tracking connections follow the nodes once every worker
  // routes by the new configuration (started earlier, a worker still on the old pool could
  // store a replaced node's value under the new node's index).
  std::uint64_t near_generation = 0;
  if (near_) near_generation = near_->reload(*next);
  auto left = std::make_shared<std::atomic<std::size_t>>(workers_.size());
  for (auto& w : workers_) {
    std::function<void()> applied;
    if (near_) {
      applied = [this, left, near_generation] {
        if (left->fetch_sub(1) == 1 && near_) near_->start(near_generation);
      };
    }
    w->apply(next, health, generation, std::move(applied));
  }
  if (health_) health_->stop();
  health_ = std::move(health);
  if (health_) health_->start();
  // A sentinel pool's new primary: the write-behind flushers and the invalidation listener
  // reconnect there (the queues were replicated to it).
  if (writes_) writes_->follow(next->pool);
  config_ = next;
  process_.set_config(next);
}

config::Config Daemon::with_cluster_topology(config::Config config, const config::Config* known) {
  const bool known_cluster = known != nullptr && known->pool.type == config::PoolType::kCluster;
  const auto epoch = process_.cluster_epoch.load() + 1;
  std::string error;
  auto slots = backend::fetch_cluster_slots(
      config.pool,
      known_cluster ? std::span<const config::NodeConfig>(known->pool.nodes)
                    : std::span<const config::NodeConfig>(),
      epoch, error);
  if (slots) {
    process_.cluster_refreshes.fetch_add(1);
    process_.cluster_epoch.store(epoch);
    spdlog::info("cluster: slot map epoch {}: {} primaries, {} of 16384 slots served", epoch,
                 slots->nodes().size(), slots->covered());
    return backend::with_topology(config, std::move(slots));
  }
  if (known_cluster && known->pool.slots) {
    spdlog::warn("cluster: no node gave its slot map ({}); keeping the known topology", error);
    return backend::with_topology(config, known->pool.slots);
  }
  spdlog::error(
      "cluster: no seed gave its slot map ({}); sending to the seeds until one does "
      "(refreshed every {} ms)",
      error, config.pool.cluster.refresh_interval.count());
  return config;
}

void Daemon::refresh_cluster(const char* why) {
  const auto& pool = config_->pool;
  std::string error;
  const auto epoch = process_.cluster_epoch.load() + 1;
  auto slots = backend::fetch_cluster_slots(pool, pool.nodes, epoch, error);
  if (!slots) {
    spdlog::warn("cluster: slot map refresh ({}) failed: {}", why, error);
    return;
  }
  process_.cluster_refreshes.fetch_add(1);
  if (pool.slots && slots->same_topology(*pool.slots)) return;
  process_.cluster_epoch.store(epoch);
  auto next = std::make_shared<const config::Config>(backend::with_topology(*config_, slots));
  spdlog::info("cluster: slot map epoch {} ({}): {} primaries, {} of 16384 slots served", epoch,
               why, slots->nodes().size(), slots->covered());
  if (pool.slots && same_nodes(pool, next->pool)) {
    // Slots moved between the same primaries: the workers' maps change, connections stay.
    const auto before = pool.slots;
    config_ = next;
    process_.set_config(next);
    const auto generation = generation_.load();
    // The L1 drops the moved slots' entries once every worker routes by the new map (dropped
    // before, a read still routed by the old map could store the old owner's value after it).
    auto left = std::make_shared<std::atomic<std::size_t>>(workers_.size());
    for (auto& w : workers_) {
      std::function<void()> applied;
      if (near_) {
        applied = [this, left, before, slots] {
          if (left->fetch_sub(1) == 1 && near_) near_->on_slots_changed(*before, *slots);
        };
      }
      w->set_slots(generation, slots, std::move(applied));
    }
    return;
  }
  // Other primaries: the same path as a reload (new nodes connected, removed ones drained).
  spdlog::info("cluster: primaries now {}", node_list(*next));
  apply_config(next);
}

asio::awaitable<void> Daemon::watch_topology() {
  asio::steady_timer timer(control_);
  auto last = std::chrono::steady_clock::now();
  for (;;) {
    // A ring pool only checks, once a second, whether a reload made it follow a topology.
    const auto type = config_->pool.type;
    const bool follows = type == config::PoolType::kCluster ||
                         type == config::PoolType::kSentinel || config_->pool.sentinel_groups();
    timer.expires_after(std::chrono::milliseconds(follows ? 50 : 1000));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    const auto& pool = config_->pool;
    const bool cluster = pool.type == config::PoolType::kCluster;
    const bool groups = pool.sentinel_groups();
    if (draining_ || (!cluster && !groups && pool.type != config::PoolType::kSentinel)) continue;
    const auto interval = cluster ? pool.cluster.refresh_interval : pool.sentinel.refresh_interval;
    const auto min_interval =
        cluster ? pool.cluster.refresh_min_interval : pool.sentinel.refresh_min_interval;
    const auto now = std::chrono::steady_clock::now();
    const bool wanted = process_.cluster_refresh_wanted.load(std::memory_order_relaxed);
    const bool periodic = now - last >= interval;
    if (!periodic && !(wanted && now - last >= min_interval)) continue;
    process_.cluster_refresh_wanted.store(false, std::memory_order_relaxed);
    last = now;
    try {
      if (cluster) {
        refresh_cluster(wanted ? "after a redirect or a node failure" : "periodic");
      } else if (groups) {
        refresh_groups(wanted ? "after a failure" : "periodic");
      } else {
        refresh_sentinel(wanted ? "after a failure" : "periodic");
      }
    } catch (const std::exception& e) {
      spdlog::error("{}: topology refresh failed: {}", cluster ? "cluster" : "sentinel", e.what());
    }
  }
}

Daemon::FileStamp Daemon::stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return FileStamp{st.st_dev, st.st_ino, st.st_size,
                   static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

asio::awaitable<void> Daemon::watch_config() {
  // Polls the file (following symlinks), which also sees Kubernetes' ConfigMap update: the
  // mounted file is a symlink through "..data", swapped atomically to a new directory.
  asio::steady_timer timer(control_);
  for (;;) {
    timer.expires_after(config_->process.watch_interval);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    if (!config_->process.watch_config || draining_) continue;
    const FileStamp now = stamp(path_);
    if (now == stamp_ || now == FileStamp{}) continue;
    stamp_ = now;
    reload("config file changed");
  }
}

}  // namespace sidecache::app
