// What the workers remember of the read-through keys they found cached: for each key that hit,
// until when its value is known to last. It decides, per read of a lease policy, whether the read
// also asks for the lease (and, for policies that keep their markers beside the key, for the
// negative marker): a key expected to hit is read plainly (a hit costs Redis the least); any
// other key, never seen, evicted from here, past its known expiry, or written through sidecache
// since (PolicyChain forgets the keys of every write command), is read with its lease attempt
// in the same round trip, so its miss goes to the database after one round trip.
//
// A guess, never a correctness matter: a wrong "hit" (a key deleted behind sidecache's back)
// costs the miss a second round trip (the lease asked after the read); a wrong "miss" costs the
// hit a lease attempt that writes nothing (in the key) or that is released at once (beside it).
//
// Shared by the workers, without a lock: a two-way set-associative table of 64-bit atomic
// entries (a 32-bit key tag, the expiry in 16 ms ticks since the table was made, rounded down),
// read and written with relaxed order (a torn guess is still only a guess). Allocated at the
// first hit: 512 KiB.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace sidecache::cache {

class RecentHits {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kEntries = 65536;

  RecentHits();
  ~RecentHits();
  RecentHits(const RecentHits&) = delete;
  RecentHits& operator=(const RecentHits&) = delete;

  // Where a key's entry may be: computed once per read, used by its look-up and its hit.
  struct Place {
    std::size_t set = 0;    // index of the first of the set's two entries
    std::uint32_t tag = 0;  // never 0 (an empty entry)
  };
  static Place place(std::string_view key);

  // A coarse clock (a few ms of resolution) that costs a fraction of Clock::now(): the entries
  // count in 16 ms ticks anyway.
  static Clock::time_point now();

  // True when the key at `place` hit and the value it found outlives `now`.
  bool expects_hit(Place place, Clock::time_point now) const;
  // The key at `place` hit: its value lasts `remaining_ms` more (negative: no expiry).
  void hit(Place place, Clock::time_point now, std::int64_t remaining_ms);
  // `key` was found absent or written: the next read asks for its lease.
  void forget(std::string_view key);

  bool expects_hit(std::string_view key, Clock::time_point now) const {
    return expects_hit(place(key), now);
  }
  void hit(std::string_view key, Clock::time_point now, std::int64_t remaining_ms) {
    hit(place(key), now, remaining_ms);
  }
  // Whether anything was ever remembered (else forget() has nothing to do).
  bool in_use() const { return table_.load(std::memory_order_relaxed) != nullptr; }

 private:
  static constexpr std::int64_t kTickMs = 16;

  std::uint32_t ticks(Clock::time_point t) const;

  std::atomic<std::atomic<std::uint64_t>*> table_{nullptr};
  const Clock::time_point epoch_;
};

}  // namespace sidecache::cache
