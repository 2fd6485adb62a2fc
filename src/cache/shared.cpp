#include "cache/shared.hpp"

namespace sidecache::cache {

Shared::Shared(std::shared_ptr<DbRunner> db, std::shared_ptr<CacheStats> stats)
    : db_(std::move(db)), stats_(std::move(stats)) {
  snapshot_ = set_policies(config::CacheConfig{});
}

std::shared_ptr<const Snapshot> Shared::snapshot() const {
  const std::lock_guard lock(mutex_);
  return snapshot_;
}

std::shared_ptr<const Snapshot> Shared::set_policies(const config::CacheConfig& cache) {
  auto next = std::make_shared<Snapshot>();
  next->set = std::make_shared<const PolicySet>(cache);
  next->write_behind = cache.write_behind;
  const std::lock_guard lock(mutex_);
  for (const auto& p : next->set->policies()) {
    next->stats.push_back(stats_->policy(p->name()));
    auto& ewma = load_ms_[p->name()];
    if (!ewma) ewma = std::make_shared<Ewma>();
    next->load_ms.push_back(ewma);
  }
  snapshot_ = next;
  generation_.fetch_add(1, std::memory_order_release);
  return next;
}

void Shared::set_db(std::shared_ptr<DbRunner> db) {
  const std::lock_guard lock(mutex_);
  db_ = std::move(db);
}

std::shared_ptr<DbRunner> Shared::db() const {
  const std::lock_guard lock(mutex_);
  return db_;
}

bool Shared::has_db() const {
  const std::lock_guard lock(mutex_);
  return db_ != nullptr;
}

void Shared::set_write_pending(std::vector<std::string> names) {
  auto next = std::make_shared<const std::vector<std::string>>(std::move(names));
  const std::lock_guard lock(mutex_);
  write_pending_ = std::move(next);
}

std::shared_ptr<const std::vector<std::string>> Shared::write_pending() const {
  const std::lock_guard lock(mutex_);
  return write_pending_;
}

}  // namespace sidecache::cache
