// Which keys are read through, and for how long they live: compiled policy patterns (the text
// in place of '*' is the id), TTL resolution (policy ttl, else the first TTL rule, else the
// default) and TTL jitter. Asio-free.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "db/database.hpp"

namespace sidecache::cache {

using Millis = std::chrono::milliseconds;

// "prefix*suffix" (one '*', whose text is the id) or a literal key (the id is the whole key).
class Pattern {
 public:
  explicit Pattern(std::string_view text);
  // The id when `key` matches, else nullopt. The id is never empty for a '*' pattern.
  std::optional<std::string_view> match(std::string_view key) const;
  const std::string& text() const { return text_; }
  // The fixed text every matching key starts with (may be empty).
  const std::string& prefix() const { return prefix_; }

 private:
  std::string text_;
  std::string prefix_;
  std::string suffix_;
  bool wildcard_ = false;
  // The prefix's first (up to) 8 bytes as one word and the mask of those bytes: most keys of
  // other key spaces are told apart with one compare.
  std::uint64_t head_ = 0;
  std::uint64_t head_mask_ = 0;
};

// Glob with '*' (any run, also empty) and '?' (one byte), for TTL rules.
bool glob_match(std::string_view pattern, std::string_view text);

// One compiled policy: the config, its pattern, its database source, and the values derived
// from the config that every request needs.
struct Policy {
  config::CachePolicy config;
  Pattern pattern;
  db::Source source;
  Millis ttl{0};    // resolved: policy ttl, else the first TTL rule, else default_ttl
  Millis grace{0};  // max(stale_while_revalidate, stale_if_error): kept past logical expiry
  std::size_t index = 0;

  Policy(config::CachePolicy c, Millis resolved_ttl, std::size_t i);
  const std::string& name() const { return config.name; }
  bool is_hash() const { return config.mapping == config::ValueMapping::kHash; }
};

// The database source of a policy (table + key column + columns, or query).
db::Source source_of(const config::CachePolicy& policy);

// The key of `id` under `pattern` ('*' replaced by the id; a literal pattern is the key).
std::string key_of(std::string_view pattern, std::string_view id);

// The TTL of keys matching `pattern` (a policy's match) when the policy sets none: the first
// TTL rule whose match matches the pattern text (or, for rules written for keys, a sample key
// of the pattern), else `default_ttl`.
Millis resolve_ttl(const config::CacheConfig& cache, const config::CachePolicy& policy);

// `ttl` moved at random by up to +-jitter (a share, 0..1) of itself; never below 1 ms.
Millis jittered(Millis ttl, double jitter, std::mt19937_64& rng);

// The policies of one configuration, in config order; the first match wins. A key is tried
// only against the policies whose pattern can match its first byte (an index built once per
// configuration), so policies for other key spaces cost a plain command nothing but a lookup.
class PolicySet {
 public:
  explicit PolicySet(const config::CacheConfig& cache);
  struct Match {
    const Policy* policy = nullptr;
    std::string_view id;
  };
  // {nullptr, {}} when no policy matches `key`.
  Match match(std::string_view key) const;
  const std::vector<std::unique_ptr<Policy>>& policies() const { return policies_; }
  bool empty() const { return policies_.empty(); }

 private:
  std::vector<std::unique_ptr<Policy>> policies_;
  // The candidates of a key whose first byte is b are candidates_[starts_[b] .. starts_[b + 1]),
  // in config order; slot 256 is the empty key. Empty prefixes are candidates everywhere.
  std::vector<std::uint32_t> starts_;
  std::vector<const Policy*> candidates_;
};

}  // namespace sidecache::cache
