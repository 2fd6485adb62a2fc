// A growable byte buffer with a read and a write position, for socket reads that frame messages
// in place: read into prepare(), commit(n), frame readable(), consume(n). Compacts (moves the
// unread bytes to the front) before growing, so a steady stream reuses one allocation.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace sidecache {

class ByteBuffer {
 public:
  explicit ByteBuffer(std::size_t initial = 16 * 1024) : capacity_(initial) {}

  std::string_view readable() const { return {data_.get() + rpos_, wpos_ - rpos_}; }
  std::size_t size() const { return wpos_ - rpos_; }
  std::size_t capacity() const { return capacity_; }

  // At least `min_free` writable bytes at the end (allocating or compacting as needed). Only
  // prepare() and shrink_to() move bytes: the space it returns stays valid while its read is in
  // flight, even when the readable bytes are consumed meanwhile.
  char* prepare(std::size_t min_free, std::size_t& free) {
    if (!data_) data_ = std::make_unique<char[]>(capacity_);
    if (rpos_ == wpos_) rpos_ = wpos_ = 0;
    if (capacity_ - wpos_ < min_free) {
      const std::size_t used = wpos_ - rpos_;
      if (capacity_ - used >= min_free && rpos_ > 0) {
        std::memmove(data_.get(), data_.get() + rpos_, used);
      } else {
        std::size_t grown = capacity_ * 2;
        while (grown - used < min_free) grown *= 2;
        auto bigger = std::make_unique<char[]>(grown);
        std::memcpy(bigger.get(), data_.get() + rpos_, used);
        data_ = std::move(bigger);
        capacity_ = grown;
      }
      rpos_ = 0;
      wpos_ = used;
    }
    free = capacity_ - wpos_;
    return data_.get() + wpos_;
  }
  void commit(std::size_t n) { wpos_ += n; }
  void consume(std::size_t n) { rpos_ += n; }
  // Gives memory back after a burst (e.g. a huge request), keeping the unread bytes.
  void shrink_to(std::size_t target) {
    if (capacity_ <= target || size() > target) return;
    auto smaller = std::make_unique<char[]>(target);
    std::memcpy(smaller.get(), data_.get() + rpos_, size());
    wpos_ = size();
    rpos_ = 0;
    data_ = std::move(smaller);
    capacity_ = target;
  }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_;
  std::size_t rpos_ = 0;
  std::size_t wpos_ = 0;
};

}  // namespace sidecache
