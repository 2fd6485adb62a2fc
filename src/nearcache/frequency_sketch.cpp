#include "nearcache/frequency_sketch.hpp"

#include <algorithm>
#include <bit>

#include "nearcache/key_hash.hpp"

namespace sidecache::nearcache {
namespace {

constexpr std::uint64_t kRowSeeds[FrequencySketch::kRows] = {
    0x9e3779b97f4a7c15ULL, 0xc2b2ae3d27d4eb4fULL, 0x165667b19e3779f9ULL, 0xd6e8feb86659fd93ULL};
constexpr std::size_t kDoorkeeperBitsPerEntry = 16;

std::size_t width_for(std::size_t expected_entries) {
  return std::bit_ceil(std::max<std::size_t>(expected_entries, 16));
}

}  // namespace

FrequencySketch::FrequencySketch(std::size_t expected_entries)
    : width_(width_for(expected_entries)),
      sample_size_(10 * std::max<std::size_t>(expected_entries, 1)),
      table_(kRows * width_ / 16),
      doorkeeper_(width_ * kDoorkeeperBitsPerEntry / 64) {}

std::size_t FrequencySketch::memory_bytes_for(std::size_t expected_entries) {
  const std::size_t width = width_for(expected_entries);
  return (kRows * width / 16 + width * kDoorkeeperBitsPerEntry / 64) * 8;
}

// The table is blocks of kRows words; a key's block is picked by its hash, and row r's counter
// is one of the 16 nibbles of the block's word r. One cache line holds all 4 of a key's
// counters (as in Caffeine's sketch since 2021), so a record costs one cache miss, not four.
// Two mixes of the hash per key: one picks the block, the other gives the 4 rows' nibbles (4
// bits each from its top 16).
void FrequencySketch::indexes(std::uint64_t hash, std::size_t (&at)[kRows]) const {
  const std::size_t block =
      static_cast<std::size_t>(mix64(hash ^ kRowSeeds[0])) & (width_ / 16 - 1);
  const std::uint64_t nibbles = mix64(hash ^ kRowSeeds[1]);
  for (int row = 0; row < kRows; ++row) {
    const auto nibble = static_cast<std::size_t>(nibbles >> (60 - 4 * row)) & 0xf;
    at[row] = (block * kRows + static_cast<std::size_t>(row)) * 16 + nibble;
  }
}

std::uint32_t FrequencySketch::counter(std::size_t i) const {
  return static_cast<std::uint32_t>(table_[i / 16] >> ((i % 16) * 4)) & 0xf;
}

void FrequencySketch::increment_at(std::size_t i) {
  table_[i / 16] += std::uint64_t{1} << ((i % 16) * 4);
}

// A blocked Bloom filter: a key's two bits are in one word, picked by its hash.
std::size_t FrequencySketch::doorkeeper_word(std::uint64_t hash, std::uint64_t& mask) const {
  const std::uint64_t h = mix64(hash + 0x632be59bd9b4e019ULL);
  mask = (std::uint64_t{1} << (h >> 58)) | (std::uint64_t{1} << ((h >> 52) & 63));
  return static_cast<std::size_t>(h) & (doorkeeper_.size() - 1);
}

bool FrequencySketch::doorkeeper_test(std::uint64_t hash) const {
  std::uint64_t mask = 0;
  return (doorkeeper_[doorkeeper_word(hash, mask)] & mask) == mask;
}

bool FrequencySketch::doorkeeper_test_and_set(std::uint64_t hash) {
  std::uint64_t mask = 0;
  std::uint64_t& word = doorkeeper_[doorkeeper_word(hash, mask)];
  const bool present = (word & mask) == mask;
  word |= mask;
  return present;
}

void FrequencySketch::record(std::uint64_t hash) {
  if (doorkeeper_test_and_set(hash)) {
    std::size_t at[kRows];
    indexes(hash, at);
    std::uint32_t low = kMaxCount;
    for (int row = 0; row < kRows; ++row) low = std::min(low, counter(at[row]));
    if (low < kMaxCount) {
      for (int row = 0; row < kRows; ++row) {
        if (counter(at[row]) == low) increment_at(at[row]);  // conservative update
      }
    }
  }
  if (++samples_ >= sample_size_) age();
}

std::uint32_t FrequencySketch::estimate(std::uint64_t hash) const {
  std::size_t at[kRows];
  indexes(hash, at);
  std::uint32_t low = kMaxCount;
  for (int row = 0; row < kRows; ++row) low = std::min(low, counter(at[row]));
  return low + (doorkeeper_test(hash) ? 1 : 0);
}

void FrequencySketch::age() {
  for (auto& word : table_) word = (word >> 1) & 0x7777777777777777ULL;
  std::fill(doorkeeper_.begin(), doorkeeper_.end(), 0);
  samples_ /= 2;
  ++agings_;
}

void FrequencySketch::clear() {
  std::fill(table_.begin(), table_.end(), 0);
  std::fill(doorkeeper_.begin(), doorkeeper_.end(), 0);
  samples_ = 0;
}

}  // namespace sidecache::nearcache
