// The near cache's L1 store: key -> the exact reply bytes to send, each with an absolute expiry,
// within max_memory bytes, shared by every worker thread. The request path is cache/near_step.
//
// Sharding: the key's hash picks one of `shards` shards (a power of two). Each shard has its own
// mutex, W-TinyLFU state (shard.hpp) and an equal share of the budget, so two workers contend
// only when they touch the same shard at the same moment; a hit locks one shard, records the
// access, moves the entry in its LRU and hands the value to the caller's callback, allocating
// nothing.
//
// Memory: every byte counted (entries, bucket arrays, sketches, fill slots, shard headers) is
// within max_memory at all times: the fixed structures are set aside at construction and each
// shard keeps its entries and bucket array within the rest of its share (stats().bytes +
// stats().fixed_bytes <= max_memory).
//
// Expiry: every call takes `now` (tests inject it); an entry read at or after its expiry is a
// miss and is freed. The caller clamps the expiry to the key's Redis TTL and to max_ttl.
//
// The fill guard, for the race between a read sent to Redis and an invalidation of its key:
//   token = begin_fill(key)              before the read is sent
//   invalidate(key, ...)                 an invalidation arrives (any time in between)
//   finish_fill(token, key, value, ...)  the reply: stored only if no invalidation of that key
//                                        (or flush of its shard) happened since begin_fill
// Each shard keeps fill_slots epoch counters indexed by key hash; invalidating a key bumps its
// slot (whether or not the key is cached), invalidate_node / invalidate_if / clear bump the
// shard's epoch. A fill fails when either moved. False positives (a fill dropped that could
// have been stored) happen only when another key of the same slot was invalidated meanwhile:
// with k invalidations landing in a shard during one read, about k / fill_slots. They cost a
// miss, never a stale value. No false negatives, except an epoch wrapping 2^32 during one read.
//
// Thread-safe; every call locks one shard at a time. Asio-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "nearcache/entry.hpp"
#include "nearcache/key_hash.hpp"
#include "nearcache/shard.hpp"
#include "nearcache/stats.hpp"

namespace sidecache::nearcache {

struct StoreOptions {
  std::size_t max_memory = std::size_t{64} << 20;
  std::size_t shards = 16;  // a power of two
  // Sizes each shard's frequency sketch: max_memory / expected_entry_bytes entries in all.
  std::size_t expected_entry_bytes = 128;
  double window_fraction = 0.01;
  double protected_fraction = 0.8;
  // An entry charged more than this fraction of its shard's budget is not stored.
  double max_entry_fraction = 0.1;
  std::size_t fill_slots = 256;  // per shard, a power of two
};

struct FillToken {
  std::uint64_t hash = 0;
  FillStamp stamp;
};

class Store {
 public:
  // Throws std::invalid_argument when the options cannot work (shards not a power of two, a
  // shard's share too small for its fixed structures plus 4 KiB).
  explicit Store(const StoreOptions& options);

  // On a hit calls on_hit(std::string_view value) under the shard's lock (copy the bytes out;
  // do not call the store from it) and returns true. With `kind` not 0, only a value whose
  // first byte is `kind` is a hit: the request path stores a string as its bulk reply ('$')
  // and a hash as its RESP2 HGETALL reply ('*'), so a GET never sees a hash (and vice versa);
  // another kind counts as a miss and the entry stays.
  template <class OnHit>
  bool get(std::string_view key, Clock::time_point now, OnHit&& on_hit, char kind = 0) {
    const std::uint64_t hash = key_hash(key);
    LockedShard& s = shard_for(hash);
    std::lock_guard lock(s.mutex);
    const Entry* e = s.shard.lookup(hash, key, now, kind);
    if (e == nullptr) return false;
    on_hit(e->value());
    return true;
  }

  // Stores unconditionally (no fill guard). Returns whether the entry is stored.
  bool put(std::string_view key, std::string_view value, Clock::time_point expiry,
           std::uint16_t node, Clock::time_point now);

  FillToken begin_fill(std::string_view key);
  // Stores the value unless the key was invalidated since begin_fill (a fill-race drop).
  // Returns whether it was stored.
  bool finish_fill(const FillToken& token, std::string_view key, std::string_view value,
                   Clock::time_point expiry, std::uint16_t node, Clock::time_point now);

  // Invalidation (erase): drops the key and fails fills of it in flight. Returns whether the
  // key was cached.
  bool invalidate(std::string_view key, InvalidationReason reason);
  // Drops every entry of the node (its tracking connection was lost, it was remapped, ...).
  // Walks every entry, one shard at a time.
  std::size_t invalidate_node(std::uint16_t node,
                              InvalidationReason reason = InvalidationReason::kNodeLost);
  // Drops every entry whose key (and node) the predicate selects. Walks every entry.
  std::size_t invalidate_if(
      const std::function<bool(std::string_view key, std::uint16_t node)>& select,
      InvalidationReason reason);
  void clear(InvalidationReason reason = InvalidationReason::kFlush);

  StoreStats stats() const;
  std::size_t max_memory() const { return max_memory_; }
  std::size_t shard_count() const { return shards_.size(); }
  // The largest entry charge that can be stored.
  std::size_t max_entry_bytes() const { return max_entry_bytes_; }

 private:
  struct alignas(64) LockedShard {
    explicit LockedShard(const ShardOptions& options) : shard(options) {}
    mutable std::mutex mutex;
    Shard shard;
  };

  LockedShard& shard_for(std::uint64_t hash) {
    return *shards_[shard_shift_ == 64 ? 0 : hash >> shard_shift_];
  }

  std::size_t max_memory_;
  std::size_t fixed_bytes_ = 0;
  std::size_t max_entry_bytes_ = 0;
  unsigned shard_shift_;  // 64 - log2(shards)
  std::vector<std::unique_ptr<LockedShard>> shards_;
};

}  // namespace sidecache::nearcache
