#include "nearcache/lag.hpp"

#include <cmath>
#include <limits>

namespace sidecache::nearcache {

double LagHistogram::quantile_bound(double q) const {
  const std::uint64_t total = count();
  if (total == 0) return 0;
  const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    seen += buckets_[i].get();
    if (seen >= rank) return kBounds[i];
  }
  return std::numeric_limits<double>::infinity();
}

LagHistogram& LagBook::node(const std::string& name) {
  const std::lock_guard lock(mutex_);
  auto& slot = nodes_[name];
  if (!slot) slot = std::make_unique<LagHistogram>();
  return *slot;
}

void LagBook::for_each(
    const std::function<void(const std::string&, const LagHistogram&)>& f) const {
  const std::lock_guard lock(mutex_);
  for (const auto& [name, histogram] : nodes_) f(name, *histogram);
}

}  // namespace sidecache::nearcache
