#include "app/memory_trim.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace sidecache::app {
namespace {

constexpr std::chrono::seconds kInterval{1};
// Freed since the last trim before trimming again: small churn is left to the allocator.
constexpr std::size_t kTrimAbove = 4 * 1024 * 1024;

}  // namespace

void MemoryTrimmer::start() {
#if SIDECACHE_JEMALLOC
  // jemalloc's background thread returns free pages itself (jemalloc_config.cpp).
#else
  schedule();
#endif
}

void MemoryTrimmer::schedule() {
  timer_.expires_after(kInterval);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    check();
    schedule();
  });
}

void MemoryTrimmer::check() {
  const struct mallinfo2 info = mallinfo2();
  low_free_ = std::min(low_free_, info.fordblks);
  if (info.fordblks < low_free_ + kTrimAbove) return;
  malloc_trim(0);
  spdlog::debug("memory: {} MB free in the allocator's arenas returned to the system",
                (info.fordblks - low_free_) >> 20);
  low_free_ = mallinfo2().fordblks;
}

}  // namespace sidecache::app
