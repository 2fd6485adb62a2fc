#include "cache/policy.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace sidecache::cache {
namespace {

constexpr std::size_t kHead = sizeof(std::uint64_t);

// The first (up to) 8 bytes of `text` in one word, zero-padded.
std::uint64_t head_word(std::string_view text) {
  std::uint64_t word = 0;
  std::memcpy(&word, text.data(), std::min(kHead, text.size()));
  return word;
}

}  // namespace

Pattern::Pattern(std::string_view text) : text_(text) {
  const auto star = text.find('*');
  wildcard_ = star != std::string_view::npos;
  prefix_ = std::string(text.substr(0, star));
  if (wildcard_) suffix_ = std::string(text.substr(star + 1));
  head_ = head_word(prefix_);
  std::memset(&head_mask_, 0xFF, std::min(kHead, prefix_.size()));
}

std::optional<std::string_view> Pattern::match(std::string_view key) const {
  if (!wildcard_) {
    if (key == prefix_) return key;
    return std::nullopt;
  }
  if (key.size() <= prefix_.size() + suffix_.size()) return std::nullopt;
  // The key is longer than the prefix, so its head word holds real bytes of the key.
  if ((head_word(key) & head_mask_) != head_) return std::nullopt;
  if (prefix_.size() > kHead &&
      key.substr(kHead, prefix_.size() - kHead) != std::string_view(prefix_).substr(kHead)) {
    return std::nullopt;
  }
  if (key.substr(key.size() - suffix_.size()) != suffix_) return std::nullopt;
  return key.substr(prefix_.size(), key.size() - prefix_.size() - suffix_.size());
}

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative glob with one backtrack point (the last '*'): linear in practice.
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

db::Source source_of(const config::CachePolicy& policy) {
  db::Source source;
  source.table = policy.table;
  source.key_column = policy.key_column;
  source.columns = policy.columns;
  source.query = policy.query;
  if (source.columns.empty() && policy.mapping == config::ValueMapping::kColumn &&
      !policy.value_column.empty() && policy.query.empty()) {
    source.columns.push_back(policy.value_column);
  }
  return source;
}

std::string key_of(std::string_view pattern, std::string_view id) {
  const auto star = pattern.find('*');
  if (star == std::string_view::npos) return std::string(pattern);
  std::string key;
  key.reserve(pattern.size() + id.size());
  key.append(pattern.data(), star);
  key.append(id.data(), id.size());
  key.append(pattern.data() + star + 1, pattern.size() - star - 1);
  return key;
}

Millis resolve_ttl(const config::CacheConfig& cache, const config::CachePolicy& policy) {
  if (policy.ttl) return *policy.ttl;
  // A rule applies when it matches the policy's pattern itself ("product:*" against
  // "product:*") or a key of it (the pattern with '*' replaced by an id).
  std::string sample = key_of(policy.match, "1");
  for (const auto& rule : cache.ttl_rules) {
    if (glob_match(rule.match, policy.match) || glob_match(rule.match, sample)) return rule.ttl;
  }
  return cache.default_ttl;
}

Millis jittered(Millis ttl, double jitter, std::mt19937_64& rng) {
  if (jitter <= 0 || ttl.count() <= 1) return std::max(ttl, Millis{1});
  std::uniform_real_distribution<double> share(-jitter, jitter);
  const double ms = static_cast<double>(ttl.count()) * (1.0 + share(rng));
  return Millis{std::max<std::int64_t>(1, std::llround(ms))};
}

Policy::Policy(config::CachePolicy c, Millis resolved_ttl, std::size_t i)
    : config(std::move(c)),
      pattern(config.match),
      source(source_of(config)),
      ttl(resolved_ttl),
      grace(std::max(config.stale_while_revalidate, config.stale_if_error)),
      index(i) {
  if (config.name.empty()) config.name = config.match;
}

PolicySet::PolicySet(const config::CacheConfig& cache) {
  for (const auto& p : cache.policies) {
    policies_.push_back(std::make_unique<Policy>(p, resolve_ttl(cache, p), policies_.size()));
  }
  constexpr std::size_t kEmptyKey = 256;
  starts_.reserve(kEmptyKey + 2);
  for (std::size_t b = 0; b <= kEmptyKey; ++b) {
    starts_.push_back(static_cast<std::uint32_t>(candidates_.size()));
    for (const auto& p : policies_) {
      const std::string& prefix = p->pattern.prefix();
      const bool can_match = prefix.empty()   ? true
                             : b == kEmptyKey ? false
                                              : static_cast<unsigned char>(prefix.front()) == b;
      if (can_match) candidates_.push_back(p.get());
    }
  }
  starts_.push_back(static_cast<std::uint32_t>(candidates_.size()));
}

PolicySet::Match PolicySet::match(std::string_view key) const {
  const std::size_t b = key.empty() ? 256 : static_cast<unsigned char>(key.front());
  for (auto i = starts_[b]; i < starts_[b + 1]; ++i) {
    if (auto id = candidates_[i]->pattern.match(key)) return {candidates_[i], *id};
  }
  return {};
}

}  // namespace sidecache::cache
