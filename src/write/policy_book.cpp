#include "write/policy_book.hpp"

namespace sidecache::write {
namespace {

using config::WriteMode;

const cache::Policy* find(const cache::PolicySet& set, const std::string& name) {
  for (const auto& p : set.policies()) {
    if (p->name() == name) return p.get();
  }
  return nullptr;
}

}  // namespace

bool any_behind(const cache::PolicySet& set) {
  for (const auto& p : set.policies()) {
    if (p->config.write == WriteMode::kBehind) return true;
  }
  return false;
}

std::vector<std::string> PolicyBook::retire(const config::CacheConfig& next) {
  const auto running = cache_->snapshot();
  std::vector<std::string> names;
  const std::lock_guard lock(mutex_);
  for (const auto& p : running->set->policies()) {
    if (p->config.write != WriteMode::kBehind) continue;
    bool stays = false;
    for (const auto& n : next.policies) {
      stays = stays || (n.name == p->name() && n.write == WriteMode::kBehind);
    }
    if (stays) continue;
    // A copy: the running snapshot may go once the reload is done.
    retired_[p->name()] = std::make_shared<const cache::Policy>(p->config, p->ttl, p->index);
    names.push_back(p->name());
  }
  for (const auto& n : next.policies) {
    if (n.write == WriteMode::kBehind) retired_.erase(n.name);
  }
  return names;
}

std::shared_ptr<const cache::Policy> PolicyBook::behind(const std::string& name,
                                                        bool* retired) const {
  if (retired != nullptr) *retired = false;
  auto snap = cache_->snapshot();
  if (const auto* p = find(*snap->set, name);
      p != nullptr && p->config.write == WriteMode::kBehind) {
    return {snap, p};  // shares the snapshot's lifetime
  }
  const std::lock_guard lock(mutex_);
  const auto it = retired_.find(name);
  if (it == retired_.end()) return nullptr;
  if (retired != nullptr) *retired = true;
  return it->second;
}

std::chrono::milliseconds PolicyBook::ttl(const std::string& name) const {
  auto snap = cache_->snapshot();
  if (const auto* p = find(*snap->set, name); p != nullptr) return p->ttl + p->grace;
  const std::lock_guard lock(mutex_);
  const auto it = retired_.find(name);
  return it == retired_.end() ? std::chrono::milliseconds(0) : it->second->ttl + it->second->grace;
}

void PolicyBook::set_queue_options(const config::WriteBehindQueueConfig& options) {
  const std::lock_guard lock(mutex_);
  queue_options_ = options;
}

config::WriteBehindQueueConfig PolicyBook::queue_options() const {
  const std::lock_guard lock(mutex_);
  return queue_options_;
}

}  // namespace sidecache::write
