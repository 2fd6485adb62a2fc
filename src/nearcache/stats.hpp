// What the L1 store counts. Each shard keeps a ShardStats, written only under the shard's lock
// (relaxed load+store Counters: no locked instruction) and readable from any thread; the store
// sums them into a StoreStats on demand, for the metrics layer to export. Asio-free.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "sidecache/util/counter.hpp"

namespace sidecache::nearcache {

// Why entries were dropped on purpose (not evicted, not expired).
enum class InvalidationReason : std::uint8_t {
  kWrite,      // a write through sidecache
  kTracking,   // a CLIENT TRACKING invalidation push
  kFlush,      // FLUSHALL / FLUSHDB, the null invalidation message, reload
  kNodeLost,   // the node's tracking connection was lost (or the node remapped / ejected)
  kSlotMoved,  // a cluster slot's owner changed in a new slot map
  kCount
};
inline constexpr std::array<const char*, 5> kInvalidationReasonNames = {
    "write", "tracking", "flush", "node_lost", "slot_moved"};

struct ShardStats {
  Counter hits;
  Counter misses;           // includes reads of expired entries
  Counter inserts;          // entries stored (into the window)
  Counter admissions;       // window candidates admitted to the main space
  Counter rejections;       // window candidates that lost to main's victim, dropped
  Counter oversized;        // values not stored: bigger than the per-entry limit
  Counter evictions;        // main (or window) entries dropped to make room
  Counter expirations;      // entries dropped because their expiry passed
  Counter replaced;         // entries overwritten by a newer value for the same key
  Counter fill_race_drops;  // finish_fill calls that stored nothing: invalidated meanwhile
  std::array<Counter, static_cast<std::size_t>(InvalidationReason::kCount)> invalidations;
  Gauge bytes;  // charged bytes: entries, hash table (fixed structures are not in it)
  Gauge entries;
};

struct StoreStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t inserts = 0;
  std::uint64_t admissions = 0;
  std::uint64_t rejections = 0;
  std::uint64_t oversized = 0;
  std::uint64_t evictions = 0;
  std::uint64_t expirations = 0;
  std::uint64_t replaced = 0;
  std::uint64_t fill_race_drops = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(InvalidationReason::kCount)> invalidations{};
  std::uint64_t bytes = 0;        // entries + hash tables, all shards
  std::uint64_t fixed_bytes = 0;  // sketches, doorkeepers, fill slots, shard headers
  std::uint64_t entries = 0;

  void add(const ShardStats& s);
  std::uint64_t invalidated() const;  // all reasons
};

}  // namespace sidecache::nearcache
