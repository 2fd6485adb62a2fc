#include "cache/stats.hpp"

namespace sidecache::cache {

void PolicyStats::observe_load(std::chrono::nanoseconds d) {
  const double seconds = static_cast<double>(d.count()) * 1e-9;
  std::size_t i = 0;
  while (i < Histogram::kBounds.size() && seconds > Histogram::kBounds[i]) ++i;
  latency_buckets[i].add();
  latency_sum_ns.add(static_cast<std::uint64_t>(d.count() < 0 ? 0 : d.count()));
}

std::shared_ptr<PolicyStats> CacheStats::policy(const std::string& name) {
  const std::lock_guard lock(mutex_);
  auto& p = policies_[name];
  if (!p) p = std::make_shared<PolicyStats>();
  return p;
}

std::vector<std::pair<std::string, std::shared_ptr<PolicyStats>>> CacheStats::all() const {
  const std::lock_guard lock(mutex_);
  return {policies_.begin(), policies_.end()};
}

}  // namespace sidecache::cache
