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
    spdlog::info("cache: {} database, {} connection(s)",
                 database.kind == config::DatabaseKind::kSqlite ? "SQLite" : "PostgreSQL",
                 database.pool_size);
  } else if (const auto& running = config_->cache.database;
             running &&
             (running->kind != database.kind || running->path != database.path ||
              running->conninfo != database.conninfo || running->pool_size != database.pool_size)) {
    spdlog::warn("reload: cache.database changed: needs a restart; the running database stays");
  }
  const auto timeout = database.connect_timeout + database.query_timeout + config::Millis{2000};
  return cache::validate_policies(*process_.cache->db(), cache, timeout);
}

void Daemon::apply_cache(const config::Config& config) {
  auto& shared = *process_.cache;
  auto snap = shared.set_policies(config.cache);
  if (!config.cache.policies.empty()) {
    std::string names;
    for (const auto& p : snap->set->policies()) {
      names += (names.empty() ? "" : ", ") + p->name() + " (" + p->config.match + ", ttl " +
               std::to_string(p->ttl.count()) + " ms)";
    }
    spdlog::info("cache: {} read-through policies: {}", snap->set->policies().size(), names);
  }
  bool warm = false;
  for (const auto& p : snap->set->policies()) warm = warm || p->config.warm.has_value();
  if (!warm || workers_.empty()) return;
  auto stats = shared.stats_ptr();
  stats->warming_running.fetch_add(1);
  stats->warming_done.store(false);
  workers_.front()->warm_cache(snap, [stats] {
    if (stats->warming_running.fetch_sub(1) == 1) stats->warming_done.store(true);
  });
}

void Daemon::stop_cache() {
  if (db_) db_->stop();  // queued loads end with an error, posted to (stopped) workers
}

}  // namespace sidecache::app
