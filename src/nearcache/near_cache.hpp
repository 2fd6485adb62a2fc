// The near cache as the request path and the tracking connections share it: the L1 store, the
// settings in force (patterns, max_ttl; replaced on reload), and per node whether its tracking
// connection is up. A fill for a node whose tracking connection is down is never stored, and
// losing it drops every entry of the node (set_node_up(node, false)). Thread-safe. Asio-free.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "nearcache/lag.hpp"
#include "nearcache/promotions.hpp"
#include "nearcache/store.hpp"

namespace sidecache::nearcache {

// The literal part of a glob before its first glob character (* ? [ \): the prefix a
// CLIENT TRACKING BCAST registration needs to cover every key the glob matches.
std::string literal_prefix(std::string_view glob);
// The BCAST prefixes covering `patterns`: one per pattern, with duplicates and prefixes that
// another listed prefix already covers removed (Redis refuses overlapping prefixes). {""} (all
// keys) when a pattern starts with a glob character.
std::vector<std::string> tracking_prefixes(const std::vector<std::string>& patterns);

// Patterns compiled for the request path: a literal, or a literal followed by stars only (the
// usual "user:*"), is compared as such; any other pattern goes through the glob matcher. The
// same answers as NearSettings::matches, without walking the key byte by byte.
class KeyPatterns {
 public:
  KeyPatterns() = default;
  explicit KeyPatterns(const std::vector<std::string>& patterns);
  bool matches(std::string_view key) const;

 private:
  enum class Kind : unsigned char { kExact, kPrefix, kGlob };
  struct Pattern {
    std::string text;  // kPrefix: the literal before the stars
    Kind kind;
  };
  std::vector<Pattern> patterns_;
};

struct NearSettings {
  std::vector<std::string> patterns;  // glob patterns of the keys the L1 serves
  std::chrono::milliseconds max_ttl{10000};
  bool promote = false;  // near_cache.promote_hot.enabled: active promoted keys match too
  const Promotions* promoted = nullptr;  // set by NearCache when `promote`
  // commands.allow_flush: FLUSHALL/FLUSHDB reach the nodes (and empty the L1); when false
  // sidecache refuses them, and the L1 stays.
  bool flush_allowed = true;
  // Whether `key` matches one of the patterns, or is an active promoted key.
  bool matches(std::string_view key) const;
};

class NearCache {
 public:
  static constexpr std::size_t kMaxNodes = 4096;

  NearCache(const StoreOptions& options, NearSettings settings);

  Store& store() { return store_; }
  const Store& store() const { return store_; }
  // The tracking connections' invalidation-lag probes, by node name.
  LagBook& lag() { return lag_; }
  const LagBook& lag() const { return lag_; }
  // Hot keys admitted without a pattern (near_cache.promote_hot).
  Promotions& promotions() { return promotions_; }
  const Promotions& promotions() const { return promotions_; }

  std::shared_ptr<const NearSettings> settings() const {
    const std::lock_guard lock(mutex_);
    return settings_;
  }
  // Bumped by set_settings: a reader re-reads settings() when it changed.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // New patterns / max_ttl (a reload): every entry is dropped.
  void set_settings(NearSettings settings);

  // Whether the node's tracking connection is up (fills of its keys may be stored).
  bool node_up(std::uint32_t node) const {
    return node < kMaxNodes && up_[node].load(std::memory_order_seq_cst);
  }
  // Down: marks it first, then drops every entry of the node, so a fill begun before this call
  // fails its finish_fill and one begun after sees the node down.
  void set_node_up(std::uint32_t node, bool up);
  // All nodes down (the tracking connections are being replaced); every entry dropped.
  void set_all_down(InvalidationReason reason);
  std::size_t nodes_up() const;

 private:
  Store store_;
  LagBook lag_;
  Promotions promotions_;
  mutable std::mutex mutex_;
  std::shared_ptr<const NearSettings> settings_;
  std::atomic<std::uint64_t> generation_{1};
  std::array<std::atomic<bool>, kMaxNodes> up_{};
};

}  // namespace sidecache::nearcache
