// One cached key and its value in a single allocation, and the intrusive list the W-TinyLFU
// queues are made of. The header below is followed by the key's bytes, then the value's.
//
// What an entry costs (its `charge`, counted against the budget):
//   malloc_usable_size(block) + kAllocHeader
// where the block is sizeof(Entry) (56 bytes on x86-64: hash chain, two list links, hash,
// expiry, lengths, charge, node tag, queue) + key + value. malloc_usable_size includes the
// allocator's rounding (glibc: 16-byte steps; jemalloc: its size class), and kAllocHeader is
// glibc's chunk header (jemalloc keeps none, so there it over-counts by 8). The entry's slot in
// the hash table is not in the charge: the shard charges its whole bucket array instead
// (8 bytes per bucket, between 0.5 and 2 buckets per entry). Asio-free.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sidecache::nearcache {

using Clock = std::chrono::steady_clock;

enum class Queue : std::uint8_t { kWindow, kProbation, kProtected };

inline constexpr std::size_t kAllocHeader = 8;

struct Entry {
  Entry* chain = nullptr;  // next entry in the same hash bucket
  Entry* prev = nullptr;   // towards the head (most recent) of its queue
  Entry* next = nullptr;   // towards the tail (the next victim)
  std::uint64_t hash = 0;
  Clock::rep expiry = 0;  // absolute, Clock ticks; a read at or after it is a miss
  std::uint32_t key_len = 0;
  std::uint32_t value_len = 0;
  std::uint32_t charge = 0;  // bytes counted against the budget
  std::uint16_t node = 0;    // the Redis node the key lives on (flushed together)
  Queue queue = Queue::kWindow;

  char* data() { return reinterpret_cast<char*>(this + 1); }
  const char* data() const { return reinterpret_cast<const char*>(this + 1); }
  std::string_view key() const { return {data(), key_len}; }
  std::string_view value() const { return {data() + key_len, value_len}; }

  // A new entry (its charge set), or nullptr if key + value exceed the 32-bit lengths.
  static Entry* create(std::uint64_t hash, std::string_view key, std::string_view value,
                       Clock::time_point expiry, std::uint16_t node);
  static void destroy(Entry* entry);
};

// A doubly linked list of entries, head = most recently used. Knows its total charge.
class EntryList {
 public:
  bool empty() const { return head_ == nullptr; }
  Entry* head() const { return head_; }
  Entry* tail() const { return tail_; }
  std::size_t bytes() const { return bytes_; }
  std::size_t size() const { return size_; }

  void push_front(Entry* e) {
    e->prev = nullptr;
    e->next = head_;
    if (head_ != nullptr) head_->prev = e;
    head_ = e;
    if (tail_ == nullptr) tail_ = e;
    bytes_ += e->charge;
    ++size_;
  }
  void remove(Entry* e) {
    (e->prev != nullptr ? e->prev->next : head_) = e->next;
    (e->next != nullptr ? e->next->prev : tail_) = e->prev;
    e->prev = e->next = nullptr;
    bytes_ -= e->charge;
    --size_;
  }
  void move_to_front(Entry* e) {
    if (head_ == e) return;
    remove(e);
    push_front(e);
  }

 private:
  Entry* head_ = nullptr;
  Entry* tail_ = nullptr;
  std::size_t bytes_ = 0;
  std::size_t size_ = 0;
};

}  // namespace sidecache::nearcache
