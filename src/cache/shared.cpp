#include "cache/shared.hpp"

#include "cache/store_hook.hpp"

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

void Shared::set_store_hook(std::shared_ptr<StoreHook> hook) {
  const std::lock_guard lock(mutex_);
  store_hook_ = std::move(hook);
}

std::shared_ptr<StoreHook> Shared::store_hook() const {
  const std::lock_guard lock(mutex_);
  return store_hook_;
}

}  // namespace sidecache::cache
