// On a Redis Cluster pool: the slots whose write-behind queue this process wrote to since the
// flusher last looked (one bit per slot). The Writers mark a slot when they send its enqueue
// call; the flusher takes the marks to find new queues at once instead of at its next SCAN.
// Thread-safe, lock-free. Asio-free.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

namespace sidecache::write {

class SlotHints {
 public:
  void mark(std::uint16_t slot) {
    auto& word = words_[slot / 64];
    const std::uint64_t bit = std::uint64_t{1} << (slot % 64);
    // Read first: a slot written again and again does not write the shared line every time.
    if ((word.load(std::memory_order_relaxed) & bit) == 0) {
      word.fetch_or(bit, std::memory_order_release);
    }
  }
  // The slots marked since the last call, ascending; their marks are cleared.
  std::vector<std::uint16_t> take() {
    std::vector<std::uint16_t> out;
    for (std::size_t w = 0; w < words_.size(); ++w) {
      if (words_[w].load(std::memory_order_relaxed) == 0) continue;
      std::uint64_t bits = words_[w].exchange(0, std::memory_order_acquire);
      for (std::uint32_t b = 0; bits != 0; ++b, bits >>= 1) {
        if (bits & 1) out.push_back(static_cast<std::uint16_t>(w * 64 + b));
      }
    }
    return out;
  }

 private:
  std::array<std::atomic<std::uint64_t>, 16384 / 64> words_{};
};

}  // namespace sidecache::write
