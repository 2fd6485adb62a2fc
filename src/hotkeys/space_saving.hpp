// The Space-Saving heavy-hitter sketch (Metwally, Agrawal, El Abbadi 2005) over a stream of key
// hashes, with the stream-summary layout: counters grouped in buckets of equal count, buckets in
// ascending order, so counting one occurrence is O(1) and no allocation happens after the
// constructor. With `capacity` counters:
//   - every key counted more than total / capacity times holds a counter;
//   - a counter's count over-estimates its key's true count by at most its `error`
//     (count - error <= true count <= count), and error <= total / capacity.
// halve() ages the sketch (counts, errors and the total halve, rounded down); counters that
// reach zero are dropped. Keys are identified by their 64-bit hash alone; up to kKeyBytes of each
// key's text are kept for display, copied when the key takes a free counter or, when it took
// over a full sketch's counter, on its next occurrence (until then its text is empty).
// Single-threaded: one worker owns each sketch. Asio-free.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace sidecache::hotkeys {

class SpaceSaving {
 public:
  static constexpr std::size_t kKeyBytes = 128;  // bytes of a key kept for display

  struct Counted {
    std::uint64_t hash = 0;
    std::string_view key;       // the first kKeyBytes bytes (see above), valid until a change
    std::uint32_t key_len = 0;  // the key's full length
    std::uint64_t count = 0;
    std::uint64_t error = 0;
  };

  explicit SpaceSaving(std::uint32_t capacity);

  // Counts one occurrence of the key `key` whose hash is `hash`.
  void add(std::uint64_t hash, std::string_view key);
  // Every count, error and the total halve (rounded down); counters at zero are dropped.
  void halve();
  void clear();

  std::uint32_t capacity() const { return capacity_; }
  std::size_t size() const { return size_; }
  std::uint64_t total() const { return total_; }  // occurrences counted (aged like the counts)
  // The smallest count when every counter is taken (a key without a counter occurred at most
  // this often), else 0.
  std::uint64_t min_count() const;
  // The counters, hottest first, at most `n` of them.
  std::vector<Counted> top(std::size_t n) const;

 private:
  static constexpr std::uint32_t kNone = ~std::uint32_t{0};

  struct Entry {
    std::uint64_t hash = 0;
    std::uint64_t error = 0;
    std::uint32_t bucket = kNone;
    std::uint32_t prev = kNone;  // within the bucket
    std::uint32_t next = kNone;
    std::uint32_t key_len = 0;
    bool has_text = false;  // keys_ holds the key's first bytes
  };
  struct Bucket {
    std::uint64_t count = 0;
    std::uint32_t head = kNone;  // an entry of this count
    std::uint32_t prev = kNone;  // the bucket of the next smaller count
    std::uint32_t next = kNone;  // of the next larger count
  };

  void increment(std::uint32_t entry);
  void link(std::uint32_t entry, std::uint32_t bucket);
  void unlink(std::uint32_t entry);  // frees the bucket if it empties
  std::uint32_t new_bucket(std::uint64_t count, std::uint32_t after);  // kNone: the smallest
  void free_bucket(std::uint32_t bucket);
  void set_key(std::uint32_t entry, std::uint64_t hash, std::string_view key);  // not its text
  void set_text(std::uint32_t entry, std::string_view key);
  std::string_view key_of(std::uint32_t entry) const;
  void drop(std::uint32_t entry);  // removes a counter entirely

  // Hash index: open addressing, linear probing, entry indexes.
  std::uint32_t find(std::uint64_t hash) const;
  void index_insert(std::uint32_t entry);
  void index_erase(std::uint64_t hash);

  std::uint32_t capacity_;
  std::size_t size_ = 0;
  std::uint64_t total_ = 0;
  std::vector<Entry> entries_;
  std::vector<char> keys_;  // kKeyBytes per entry
  std::vector<Bucket> buckets_;
  std::vector<std::uint32_t> free_entries_;
  std::vector<std::uint32_t> free_buckets_;
  std::uint32_t smallest_ = kNone;  // bucket of the smallest count
  std::uint32_t largest_ = kNone;
  std::vector<std::uint32_t> index_;
  std::uint64_t mask_ = 0;
};

}  // namespace sidecache::hotkeys
