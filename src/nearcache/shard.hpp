// One shard of the L1 store: a hash table of entries under a byte budget, managed by W-TinyLFU.
//   - window: an LRU of about 1 % of the budget; every new entry starts here.
//   - main: a segmented LRU, probation (new arrivals from the window, ~20 %) and protected
//     (entries hit again while in probation, ~80 %; its overflow goes back to probation).
//   - admission: when the window overflows, its LRU entry (the candidate) enters main only if
//     main has room or the candidate's estimated frequency beats main's victim (probation's LRU
//     entry, else protected's); a losing candidate is dropped ("rejection"). The frequency is the
//     FrequencySketch, fed by every lookup, hit or miss. As in Caffeine, a candidate that does
//     not win outright but has a frequency above 5 is let in 1 time in 128, so an attacker cannot
//     pin the victim by making it look popular.
// The budget covers every entry's charge (entry.hpp) and the bucket array. The sum stays within
// the budget after every call (tests check it). An entry whose charge exceeds max_entry_bytes is
// not stored. Expired entries are dropped when a lookup or the eviction meets them.
// Each shard also keeps the fill guard's epochs (see store.hpp). Not thread-safe: the store
// wraps each shard in its own lock. Asio-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "nearcache/entry.hpp"
#include "nearcache/frequency_sketch.hpp"
#include "nearcache/stats.hpp"

namespace sidecache::nearcache {

struct ShardOptions {
  std::size_t budget = 0;            // bytes for entries and the bucket array
  std::size_t expected_entries = 0;  // sizes the frequency sketch
  std::size_t max_entry_bytes = 0;   // larger entries are not stored
  double window_fraction = 0.01;
  double protected_fraction = 0.8;  // of the main space
  std::size_t fill_slots = 256;     // a power of two
};

// Where a fill started: the key's slot epoch and the shard's epoch at begin_fill.
struct FillStamp {
  std::uint32_t slot_epoch = 0;
  std::uint64_t epoch = 0;
};

class Shard {
 public:
  static constexpr std::size_t kInitialBuckets = 16;

  explicit Shard(const ShardOptions& options);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // The live entry for key (valid until the next call on this shard), or nullptr. Records the
  // access in the frequency sketch, counts a hit or a miss, and drops the entry if expired.
  // With `kind` not 0, an entry whose value does not start with that byte (it holds another
  // type, see store.hpp) is a miss and stays.
  const Entry* lookup(std::uint64_t hash, std::string_view key, Clock::time_point now,
                      char kind = 0);
  // Stores key -> value (replacing an older value), then evicts as W-TinyLFU says. Returns
  // whether the entry is in the shard afterwards (false: oversized, or rejected at once).
  bool insert(std::uint64_t hash, std::string_view key, std::string_view value,
              Clock::time_point expiry, std::uint16_t node, Clock::time_point now);

  // Invalidation: drops the key (if present) and makes fills of it begun earlier fail.
  bool erase(std::uint64_t hash, std::string_view key, InvalidationReason reason);
  // Drops every entry the predicate selects; fails every fill begun earlier. Returns how many.
  std::size_t erase_if(const std::function<bool(const Entry&)>& select, InvalidationReason reason);
  void clear(InvalidationReason reason);

  FillStamp begin_fill(std::uint64_t hash) const;
  bool fill_current(std::uint64_t hash, const FillStamp& stamp) const;
  void count_fill_race_drop() { stats_.fill_race_drops.add(); }

  const ShardStats& stats() const { return stats_; }
  const FrequencySketch& sketch() const { return sketch_; }
  std::size_t budget() const { return budget_; }
  std::size_t used() const { return entry_bytes() + table_bytes(); }
  std::size_t entries() const { return window_.size() + probation_.size() + protected_.size(); }
  std::size_t entry_bytes() const;
  std::size_t table_bytes() const { return bucket_count_ * sizeof(Entry*); }
  std::size_t window_bytes() const { return window_.bytes(); }
  std::size_t probation_bytes() const { return probation_.bytes(); }
  std::size_t protected_bytes() const { return protected_.bytes(); }
  // The queue key is in, if present (tests).
  const Entry* peek(std::uint64_t hash, std::string_view key) const { return find(hash, key); }

 private:
  enum class Drop { kEviction, kRejection, kExpiration, kReplaced, kInvalidation };

  Entry* find(std::uint64_t hash, std::string_view key) const;
  Entry*& bucket(std::uint64_t hash) const { return buckets_[hash & (bucket_count_ - 1)]; }
  void table_unlink(Entry* e);
  void maybe_grow(Clock::time_point now);
  void rehash(std::size_t count);
  EntryList& list(Queue q);
  std::size_t main_max() const;
  void on_hit(Entry* e);
  void evict_window(Clock::time_point now);
  void admit(Entry* candidate, Clock::time_point now);
  bool candidate_wins(std::uint32_t candidate_freq, const Entry* victim);
  bool evict_one(Clock::time_point now);              // drops main's (else the window's) LRU entry
  void drop(Entry* e, Drop why, bool listed = true);  // listed: in one of the queues
  void sync_gauges();
  std::uint64_t random();

  std::size_t budget_;
  std::size_t max_entry_bytes_;
  double window_fraction_;
  double protected_fraction_;
  std::unique_ptr<Entry*[]> buckets_;
  std::size_t bucket_count_ = 0;
  EntryList window_;
  EntryList probation_;
  EntryList protected_;
  FrequencySketch sketch_;
  std::vector<std::uint32_t> fill_slots_;
  std::uint64_t epoch_ = 0;
  std::uint64_t rng_ = 0x2545f4914f6cdd1dULL;
  const Entry* inserting_ = nullptr;  // the entry insert() is placing, until dropped
  std::int64_t published_bytes_ = 0;
  std::int64_t published_entries_ = 0;
  ShardStats stats_;
};

}  // namespace sidecache::nearcache
