#include "nearcache/store.hpp"

#include <bit>
#include <stdexcept>
#include <string>

namespace sidecache::nearcache {
namespace {

constexpr std::size_t kMinShardBudget = 4096;
// What the allocator adds around a shard's own allocations, counted with its fixed part: up to
// 64 bytes to align the shard, and a chunk header for each of its four arrays (sketch counters,
// doorkeeper, fill slots, buckets).
constexpr std::size_t kAllocatorSlack = 64 + 4 * 16;

bool power_of_two(std::size_t n) { return n != 0 && (n & (n - 1)) == 0; }

}  // namespace

Store::Store(const StoreOptions& options)
    : max_memory_(options.max_memory),
      shard_shift_(64 - static_cast<unsigned>(std::countr_zero(options.shards))) {
  if (!power_of_two(options.shards) || !power_of_two(options.fill_slots)) {
    throw std::invalid_argument("near cache: shards and fill_slots must be powers of two");
  }
  if (options.window_fraction <= 0 || options.window_fraction >= 0.5 ||
      options.protected_fraction <= 0 || options.protected_fraction >= 1 ||
      options.max_entry_fraction <= 0 || options.max_entry_fraction > 0.5 ||
      options.expected_entry_bytes == 0) {
    throw std::invalid_argument("near cache: a fraction out of range");
  }
  const std::size_t share = options.max_memory / options.shards;
  const std::size_t expected = std::max<std::size_t>(share / options.expected_entry_bytes, 1);
  const std::size_t fixed = sizeof(LockedShard) + FrequencySketch::memory_bytes_for(expected) +
                            options.fill_slots * sizeof(std::uint32_t) + kAllocatorSlack;
  if (share < fixed + kMinShardBudget) {
    throw std::invalid_argument("near cache: max_memory " + std::to_string(options.max_memory) +
                                " is too small for " + std::to_string(options.shards) +
                                " shards (each needs at least " +
                                std::to_string(fixed + kMinShardBudget) + " bytes)");
  }
  ShardOptions shard_options;
  shard_options.budget = share - fixed;
  shard_options.expected_entries = expected;
  shard_options.max_entry_bytes = static_cast<std::size_t>(
      static_cast<double>(shard_options.budget) * options.max_entry_fraction);
  shard_options.window_fraction = options.window_fraction;
  shard_options.protected_fraction = options.protected_fraction;
  shard_options.fill_slots = options.fill_slots;
  max_entry_bytes_ = shard_options.max_entry_bytes;
  fixed_bytes_ = fixed * options.shards;
  shards_.reserve(options.shards);
  for (std::size_t i = 0; i < options.shards; ++i) {
    shards_.push_back(std::make_unique<LockedShard>(shard_options));
  }
}

bool Store::put(std::string_view key, std::string_view value, Clock::time_point expiry,
                std::uint16_t node, Clock::time_point now) {
  const std::uint64_t hash = key_hash(key);
  LockedShard& s = shard_for(hash);
  std::lock_guard lock(s.mutex);
  return s.shard.insert(hash, key, value, expiry, node, now);
}

FillToken Store::begin_fill(std::string_view key) {
  const std::uint64_t hash = key_hash(key);
  LockedShard& s = shard_for(hash);
  std::lock_guard lock(s.mutex);
  return {hash, s.shard.begin_fill(hash)};
}

bool Store::finish_fill(const FillToken& token, std::string_view key, std::string_view value,
                        Clock::time_point expiry, std::uint16_t node, Clock::time_point now) {
  LockedShard& s = shard_for(token.hash);
  std::lock_guard lock(s.mutex);
  if (token.hash != key_hash(key) || !s.shard.fill_current(token.hash, token.stamp)) {
    s.shard.count_fill_race_drop();
    return false;
  }
  return s.shard.insert(token.hash, key, value, expiry, node, now);
}

bool Store::invalidate(std::string_view key, InvalidationReason reason) {
  const std::uint64_t hash = key_hash(key);
  LockedShard& s = shard_for(hash);
  std::lock_guard lock(s.mutex);
  return s.shard.erase(hash, key, reason);
}

std::size_t Store::invalidate_node(std::uint16_t node, InvalidationReason reason) {
  std::size_t dropped = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(s->mutex);
    dropped += s->shard.erase_if([node](const Entry& e) { return e.node == node; }, reason);
  }
  return dropped;
}

std::size_t Store::invalidate_if(
    const std::function<bool(std::string_view key, std::uint16_t node)>& select,
    InvalidationReason reason) {
  std::size_t dropped = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(s->mutex);
    dropped += s->shard.erase_if([&](const Entry& e) { return select(e.key(), e.node); }, reason);
  }
  return dropped;
}

void Store::clear(InvalidationReason reason) {
  for (auto& s : shards_) {
    std::lock_guard lock(s->mutex);
    s->shard.clear(reason);
  }
}

StoreStats Store::stats() const {
  StoreStats total;
  for (const auto& s : shards_) total.add(s->shard.stats());
  total.fixed_bytes = fixed_bytes_;
  return total;
}

void StoreStats::add(const ShardStats& s) {
  hits += s.hits.get();
  misses += s.misses.get();
  inserts += s.inserts.get();
  admissions += s.admissions.get();
  rejections += s.rejections.get();
  oversized += s.oversized.get();
  evictions += s.evictions.get();
  expirations += s.expirations.get();
  replaced += s.replaced.get();
  fill_race_drops += s.fill_race_drops.get();
  for (std::size_t i = 0; i < invalidations.size(); ++i)
    invalidations[i] += s.invalidations[i].get();
  bytes += static_cast<std::uint64_t>(s.bytes.get());
  entries += static_cast<std::uint64_t>(s.entries.get());
}

std::uint64_t StoreStats::invalidated() const {
  std::uint64_t n = 0;
  for (auto v : invalidations) n += v;
  return n;
}

}  // namespace sidecache::nearcache
