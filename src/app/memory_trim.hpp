// Gives freed heap memory back to the kernel after a burst (many clients gone, large values
// written): glibc keeps freed chunks in its arenas, so RSS would stay at the burst's peak.
// Once a second it asks glibc how much is free in its arenas and, when that grew by more than
// a few MB since the last trim, calls malloc_trim(0), which returns the free pages of every
// arena (not only the top of the main heap). The release daemon links jemalloc, which does
// this itself; the trimmer runs in builds on glibc's allocator (sanitizers, -DSIDECACHE_JEMALLOC=OFF).
#pragma once

#include <cstddef>

#include "sidecache/util/asio.hpp"

namespace sidecache::app {

class MemoryTrimmer {
 public:
  explicit MemoryTrimmer(asio::io_context& io) : timer_(io) {}
  void start();

 private:
  void schedule();
  void check();

  asio::steady_timer timer_;
  std::size_t low_free_ = 0;  // the least free arena memory seen since the last trim
};

}  // namespace sidecache::app
