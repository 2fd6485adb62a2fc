// What one worker remembers of the read-through keys it found cached: for each key that hit,
// until when its value is known to last. It decides, per read of a lease policy, whether the read
// also asks for the lease (and, for policies that keep their markers beside the key, for the
// negative marker): a key expected to hit is read plainly (a hit costs Redis the least); any
// other key, never seen, evicted from here, or past its known expiry, is read with its lease
// attempt in the same round trip, so its miss goes to the database after one round trip.
//
// A guess, never a correctness matter: a wrong "hit" costs the miss a second round trip (the
// lease asked after the read), a wrong "miss" costs the hit a lease attempt that writes nothing
// (in the key) or that is released at once (beside the key).
//
// Two-way set-associative table of 8-byte entries (a 32-bit key tag, the expiry in 16 ms ticks
// since the table was made, rounded down); allocated at the first hit, 512 KiB per worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

namespace sidecache::cache {

class RecentHits {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kEntries = 65536;

  // True when `key` hit here and the value it found outlives `now`.
  bool expects_hit(std::string_view key, Clock::time_point now) const;
  // `key` hit: its value lasts `remaining_ms` more (negative: no expiry).
  void hit(std::string_view key, Clock::time_point now, std::int64_t remaining_ms);
  // `key` was found absent (or written): the next read asks for its lease.
  void forget(std::string_view key);

 private:
  struct Entry {
    std::uint32_t tag = 0;      // 0: empty
    std::uint32_t expires = 0;  // ticks since epoch_, exclusive
  };
  static constexpr std::int64_t kTickMs = 16;

  std::uint32_t ticks(Clock::time_point t) const;

  std::unique_ptr<Entry[]> table_;
  Clock::time_point epoch_{};
};

}  // namespace sidecache::cache
