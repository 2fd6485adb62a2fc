#include "nearcache/promotions.hpp"

#include <algorithm>

namespace sidecache::nearcache {
namespace {

// Generations are drawn from one counter, so a thread's cached snapshot can never be taken for
// another instance's.
std::atomic<std::uint64_t> g_generations{0};

bool overlap(std::string_view a, std::string_view b) {
  return a.starts_with(b) || b.starts_with(a);
}

}  // namespace

Promotions::Promotions() : generation_(g_generations.fetch_add(1) + 1) {}

void Promotions::configure(std::size_t max_keys, std::vector<std::string> prefixes) {
  const std::lock_guard lock(mutex_);
  max_keys_ = max_keys;
  prefixes_ = std::move(prefixes);
}

void Promotions::clear() {
  const std::lock_guard lock(mutex_);
  pending_.clear();
  refused_.clear();
  active_set_.clear();
  publish();
  version_.fetch_add(1, std::memory_order_acq_rel);
}

bool Promotions::collides(std::string_view key) const {
  if (std::any_of(prefixes_.begin(), prefixes_.end(),
                  [&](const std::string& p) { return overlap(key, p); })) {
    return true;
  }
  // Keys are few (max_keys): a scan of both sets.
  const auto hits = [&](const std::string& k) { return overlap(key, k); };
  return std::any_of(active_set_.begin(), active_set_.end(), hits) ||
         std::any_of(pending_.begin(), pending_.end(),
                     [&](const auto& e) { return hits(e.first); });
}

bool Promotions::request(std::string_view key) {
  const std::lock_guard lock(mutex_);
  if (key.empty() || active_set_.size() + pending_.size() >= max_keys_) return false;
  if (active_set_.find(key) != active_set_.end() || pending_.find(key) != pending_.end() ||
      refused_.find(key) != refused_.end()) {
    return false;
  }
  if (collides(key)) {
    refused_.emplace(key);
    refusals_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  pending_.emplace(std::string(key), std::set<std::uint32_t>{});
  version_.fetch_add(1, std::memory_order_acq_rel);
  return true;
}

std::vector<std::string> Promotions::wanted() const {
  const std::lock_guard lock(mutex_);
  std::vector<std::string> out(active_set_.begin(), active_set_.end());
  for (const auto& [key, acked] : pending_) out.push_back(key);
  return out;
}

void Promotions::acknowledged(std::uint32_t node, std::size_t nodes,
                              const std::vector<std::string>& keys) {
  const std::lock_guard lock(mutex_);
  bool changed = false;
  for (const auto& key : keys) {
    const auto it = pending_.find(key);
    if (it == pending_.end()) continue;  // active already, or cleared meanwhile
    it->second.insert(node);
    if (it->second.size() < nodes) continue;
    active_set_.insert(key);
    pending_.erase(it);
    promotions_.fetch_add(1, std::memory_order_relaxed);
    changed = true;
  }
  if (changed) publish();
}

void Promotions::refused(const std::vector<std::string>& keys) {
  const std::lock_guard lock(mutex_);
  for (const auto& key : keys) {
    if (pending_.erase(key) == 0) continue;
    refused_.insert(key);
    refusals_.fetch_add(1, std::memory_order_relaxed);
  }
  version_.fetch_add(1, std::memory_order_acq_rel);
}

void Promotions::publish() {
  snapshot_ = std::make_shared<const KeySet>(active_set_);
  active_count_.store(active_set_.size(), std::memory_order_relaxed);
  generation_.store(g_generations.fetch_add(1) + 1, std::memory_order_release);
}

bool Promotions::active(std::string_view key) const {
  if (active_count_.load(std::memory_order_relaxed) == 0) return false;
  struct Cached {
    std::uint64_t generation = 0;
    std::shared_ptr<const KeySet> set;
  };
  thread_local Cached cached;
  const std::uint64_t g = generation_.load(std::memory_order_acquire);
  if (cached.generation != g || !cached.set) {
    const std::lock_guard lock(mutex_);
    cached.set = snapshot_;
    cached.generation = generation_.load(std::memory_order_relaxed);
  }
  return cached.set->find(key) != cached.set->end();
}

}  // namespace sidecache::nearcache
