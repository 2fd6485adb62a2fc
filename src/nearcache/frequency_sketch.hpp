// The popularity estimate W-TinyLFU admits by: a count-min sketch of 4-bit counters with a
// doorkeeper in front, both aged together.
//   - record(hash): the doorkeeper (a Bloom filter, 2 bits in one word per key) absorbs a key's
//   first occurrence in each
//     period; later occurrences increment the key's counters in the sketch (4 rows, one counter
//     per row, all 4 in one 32-byte block; conservative update: only the counters at the current
//     minimum grow; saturate at 15).
//   - estimate(hash): the smallest of the key's 4 counters, plus 1 if the doorkeeper holds it.
//     Never below the key's true count in the current period (before saturation); above it only
//     when other keys share all 4 counters.
//   - aging: after sample_size() records, every counter halves (rounded down), the doorkeeper is
//     cleared and the record count halves, so the sketch follows a changing popularity.
// Sized once from the expected number of entries (width: the next power of two); no allocation
// after the constructor. Not thread-safe: each shard owns one, under its lock. Asio-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sidecache::nearcache {

class FrequencySketch {
 public:
  static constexpr int kRows = 4;
  static constexpr std::uint32_t kMaxCount = 15;

  // expected_entries: the number of entries the cache is expected to hold (at least 1).
  // The sample period is 10 x that; the doorkeeper has 16 bits per expected entry.
  explicit FrequencySketch(std::size_t expected_entries);

  void record(std::uint64_t hash);
  std::uint32_t estimate(std::uint64_t hash) const;
  void clear();

  std::size_t sample_size() const { return sample_size_; }
  std::size_t samples() const { return samples_; }  // records since the last aging (halved)
  std::size_t agings() const { return agings_; }
  std::size_t width() const { return width_; }
  // Bytes of the counter table and the doorkeeper (what the store charges its budget).
  std::size_t memory_bytes() const { return (table_.size() + doorkeeper_.size()) * 8; }
  // Bytes a sketch for expected_entries would take, without building one.
  static std::size_t memory_bytes_for(std::size_t expected_entries);

 private:
  // The table index of each row's counter of the key.
  void indexes(std::uint64_t hash, std::size_t (&at)[kRows]) const;
  std::uint32_t counter(std::size_t i) const;
  void increment_at(std::size_t i);
  // The doorkeeper word of the key, and in `mask` its two bits.
  std::size_t doorkeeper_word(std::uint64_t hash, std::uint64_t& mask) const;
  bool doorkeeper_test(std::uint64_t hash) const;
  bool doorkeeper_test_and_set(std::uint64_t hash);  // returns whether it was already set
  void age();

  std::size_t width_;        // counters per row, a power of two
  std::size_t sample_size_;  // records between agings
  std::size_t samples_ = 0;
  std::size_t agings_ = 0;
  std::vector<std::uint64_t> table_;       // kRows * width_ 4-bit counters, 16 per word
  std::vector<std::uint64_t> doorkeeper_;  // bits, a power of two
};

}  // namespace sidecache::nearcache
