#include "nearcache/near_cache.hpp"

#include <algorithm>

#include "config/acl.hpp"

namespace sidecache::nearcache {

std::string literal_prefix(std::string_view glob) {
  const std::size_t end = glob.find_first_of("*?[\\");
  return std::string(glob.substr(0, end));
}

std::vector<std::string> tracking_prefixes(const std::vector<std::string>& patterns) {
  std::vector<std::string> prefixes;
  for (const auto& p : patterns) prefixes.push_back(literal_prefix(p));
  // Shortest first: a prefix is dropped when a kept one is a prefix of it.
  std::sort(prefixes.begin(), prefixes.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  std::vector<std::string> kept;
  for (auto& p : prefixes) {
    const bool covered = std::any_of(kept.begin(), kept.end(), [&](const std::string& k) {
      return std::string_view(p).starts_with(k);
    });
    if (!covered) kept.push_back(std::move(p));
  }
  return kept;
}

bool NearSettings::matches(std::string_view key) const {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return config::glob_match(p, key); }) ||
         (promoted != nullptr && promoted->active(key));
}

KeyPatterns::KeyPatterns(const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) {
    const std::size_t special = p.find_first_of("*?[\\");
    if (special == std::string::npos) {
      patterns_.push_back({p, Kind::kExact});
    } else if (p.find_first_not_of('*', special) == std::string::npos) {
      patterns_.push_back({p.substr(0, special), Kind::kPrefix});
    } else {
      patterns_.push_back({p, Kind::kGlob});
    }
  }
}

bool KeyPatterns::matches(std::string_view key) const {
  for (const auto& p : patterns_) {
    switch (p.kind) {
      case Kind::kExact:
        if (key == p.text) return true;
        break;
      case Kind::kPrefix:
        if (key.starts_with(p.text)) return true;
        break;
      case Kind::kGlob:
        if (config::glob_match(p.text, key)) return true;
        break;
    }
  }
  return false;
}

NearCache::NearCache(const StoreOptions& options, NearSettings settings) : store_(options) {
  settings.promoted = settings.promote ? &promotions_ : nullptr;
  settings_ = std::make_shared<const NearSettings>(std::move(settings));
}

void NearCache::set_settings(NearSettings settings) {
  settings.promoted = settings.promote ? &promotions_ : nullptr;
  {
    const std::lock_guard lock(mutex_);
    settings_ = std::make_shared<const NearSettings>(std::move(settings));
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
  store_.clear(InvalidationReason::kFlush);
}

void NearCache::set_node_up(std::uint32_t node, bool up) {
  if (node >= kMaxNodes) return;
  up_[node].store(up, std::memory_order_seq_cst);
  if (!up) store_.invalidate_node(static_cast<std::uint16_t>(node), InvalidationReason::kNodeLost);
}

void NearCache::set_all_down(InvalidationReason reason) {
  for (auto& u : up_) u.store(false, std::memory_order_seq_cst);
  store_.clear(reason);
}

std::size_t NearCache::nodes_up() const {
  return static_cast<std::size_t>(
      std::count_if(up_.begin(), up_.end(), [](const auto& u) { return u.load(); }));
}

}  // namespace sidecache::nearcache
