// The daemon's part of the read-through cache: database threads, policy validation at startup
// and reload, warming.
#include <spdlog/spdlog.h>

#include "app/daemon.hpp"
#include "cache/setup.hpp"

namespace sidecache::app {

std::string Daemon::prepare_cache(const config::Config& config) {
  const auto& cache = config.cache;
  if (cache.policies.empty()) return {};
  if (!cache.database) return config.source + ": cache: policies need a cache.database";
  const auto& database = *cache.database;
  if (!db_) {
    db_ = std::make_shared<db::Executor>(database);
    process_.cache->set_db(cache::make_db_runner(db_));
    process_.set_db_stats(db_->shared_stats());
    spdlog::info("cache: {} database, {} connection(s) for reads and writes",
                 config::to_string(database.kind), database.pool_size);
  } else if (const auto& running = config_->cache.database;
             running && (running->kind != database.kind || running->path != database.path ||
                         running->conninfo != database.conninfo || running->host != database.host ||
                         running->port != database.port || running->socket != database.socket ||
                         running->user != database.user || running->dbname != database.dbname ||
                         running->password.value != database.password.value ||
                         running->pool_size != database.pool_size)) {
    spdlog::warn("reload: cache.database changed: needs a restart; the running database stays");
  }
  const auto timeout = database.connect_timeout + database.query_timeout + config::Millis{2000};
  return cache::validate_policies(*process_.cache->db(), cache, timeout);
}

namespace {

// What a policy loads: when this changes on reload, the policy is warmed again.
std::string load_identity(const config::CachePolicy& p) {
  std::string id = p.match + '\n' + p.table + '\n' + p.key_column + '\n' + p.query + '\n' +
                   p.value_column + '\n' + std::to_string(static_cast<int>(p.mapping)) + '\n';
  for (const auto& c : p.columns) id += c + ',';
  if (p.warm) {
    id += '\n' + p.warm->query + '\n';
    for (const auto& w : p.warm->ids) id += w + ',';
  }
  return id;
}

}  // namespace

void Daemon::apply_cache(const config::Config& config) {
  auto& shared = *process_.cache;
  const auto previous = shared.snapshot();
  // The write path reads the same snapshot: it learns first which behind policies go, so what
  // is queued for them is still flushed.
  if (writes_) writes_->before_apply(config.cache);
  auto snap = shared.set_policies(config.cache);
  if (writes_) writes_->apply(config);
  for (const auto& p : config.cache.policies) {
    if (writes_ || p.write == config::WriteMode::kNone) continue;
    spdlog::warn(
        "cache policy '{}': write modes need a restart (sidecache started without "
        "cache.database); until then its writes go to Redis only",
        p.name);
  }
  if (!config.cache.policies.empty()) {
    std::string names;
    for (const auto& p : snap->set->policies()) {
      names += (names.empty() ? "" : ", ") + p->name() + " (" + p->config.match + ", ttl " +
               std::to_string(p->ttl.count()) + " ms)";
    }
    spdlog::info("cache: {} read-through policies: {}", snap->set->policies().size(), names);
  }
  // Warm the policies with `warm:` that are new or load something else than before.
  std::vector<std::size_t> warm;
  for (const auto& p : snap->set->policies()) {
    if (!p->config.warm) continue;
    bool same = false;
    for (const auto& old : previous->set->policies()) {
      same = same ||
             (old->name() == p->name() && load_identity(old->config) == load_identity(p->config));
    }
    if (!same) warm.push_back(p->index);
  }
  if (warm.empty() || workers_.empty()) return;
  auto stats = shared.stats_ptr();
  stats->warming_running.fetch_add(1);
  stats->warming_done.store(false);
  workers_.front()->warm_cache(snap, std::move(warm), [stats] {
    if (stats->warming_running.fetch_sub(1) == 1) stats->warming_done.store(true);
  });
}

void Daemon::stop_cache() {
  if (db_) db_->stop();  // queued loads end with an error, posted to (stopped) workers
}

}  // namespace sidecache::app
