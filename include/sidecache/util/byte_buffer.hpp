// A growable byte buffer with a read and a write position, for socket reads that frame messages
// in place: read into prepare(), commit(n), frame readable(), consume(n). Compacts (moves the
// unread bytes to the front) before growing, so a steady stream reuses one allocation.
//
// Memory: the storage is never zero-filled (pages not yet read into are not resident), and it
// grows and shrinks with realloc, which moves a large block by remapping its pages instead of
// copying them: a 512 MB message costs its own size, not the sum of every doubling.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

namespace sidecache {

class ByteBuffer {
 public:
  explicit ByteBuffer(std::size_t initial = 16 * 1024) : capacity_(initial) {}
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;
  ~ByteBuffer() { std::free(data_); }

  std::string_view readable() const { return {data_ + rpos_, wpos_ - rpos_}; }
  std::size_t size() const { return wpos_ - rpos_; }
  std::size_t capacity() const { return capacity_; }
  // Bytes of storage held now (0 once released, before the next prepare()).
  std::size_t allocated() const { return data_ ? capacity_ : 0; }

  // At least `min_free` writable bytes at the end (allocating or compacting as needed). Only
  // prepare(), shrink_to() and release() move bytes: the space it returns stays valid while
  // its read is in flight, even when the readable bytes are consumed meanwhile.
  char* prepare(std::size_t min_free, std::size_t& free) {
    if (!data_) {
      if (capacity_ < min_free) capacity_ = min_free;
      data_ = allocate(nullptr, capacity_);
    }
    if (rpos_ == wpos_) rpos_ = wpos_ = 0;
    if (capacity_ - wpos_ < min_free) {
      const std::size_t used = wpos_ - rpos_;
      if (rpos_ > 0) std::memmove(data_, data_ + rpos_, used);
      rpos_ = 0;
      wpos_ = used;
      if (capacity_ - used < min_free) {
        std::size_t grown = capacity_ * 2;
        while (grown - used < min_free) grown *= 2;
        data_ = allocate(data_, grown);
        capacity_ = grown;
      }
    }
    free = capacity_ - wpos_;
    return data_ + wpos_;
  }
  void commit(std::size_t n) { wpos_ += n; }
  void consume(std::size_t n) { rpos_ += n; }
  // Gives memory back after a burst (e.g. a huge request), keeping the unread bytes.
  void shrink_to(std::size_t target) {
    if (!data_ || capacity_ <= target || size() > target) return;
    if (rpos_ > 0) std::memmove(data_, data_ + rpos_, size());
    wpos_ = size();
    rpos_ = 0;
    data_ = allocate(data_, target);
    capacity_ = target;
  }
  // Frees the storage when nothing is unread; the next prepare() allocates `next` bytes.
  void release(std::size_t next) {
    if (size() > 0) return;
    std::free(std::exchange(data_, nullptr));
    rpos_ = wpos_ = 0;
    capacity_ = next;
  }

 private:
  static char* allocate(char* old, std::size_t n) {
    void* p = std::realloc(old, n);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<char*>(p);
  }

  char* data_ = nullptr;
  std::size_t capacity_;
  std::size_t rpos_ = 0;
  std::size_t wpos_ = 0;
};

}  // namespace sidecache
