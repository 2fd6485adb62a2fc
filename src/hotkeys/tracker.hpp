// One worker's hot-key tracking: the dispatcher calls record() for every key a client command
// touches; the worker's timer calls tick(), which ages the sketch (every count halves each
// half_life) and publishes a copy to the Board. Owned and used by the worker's thread only: the
// request path takes no lock and shares no cache line. Asio-free.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "config/config.hpp"
#include "hotkeys/board.hpp"
#include "hotkeys/key_hash.hpp"
#include "hotkeys/space_saving.hpp"

namespace sidecache::hotkeys {

class Tracker {
 public:
  using Clock = std::chrono::steady_clock;
  // How often the worker calls tick(): the merged view is at most this old.
  static constexpr std::chrono::milliseconds kTick{500};

  // Publishes to `board`'s slot `worker` (a null board: nothing is published).
  Tracker(const config::HotKeysConfig& config, Board* board, std::size_t worker,
          Clock::time_point now);

  void record(std::string_view key) {
    if (sample_ > 1 && !sampled()) return;
    sketch_.add(key_hash(key), key);
  }
  // Ages the sketch up to `now` and publishes it.
  void tick(Clock::time_point now);

  const config::HotKeysConfig& config() const { return config_; }
  const SpaceSaving& sketch() const { return sketch_; }
  double window_seconds() const { return window_; }

 private:
  // One in sample_, at random (xorshift64): a fixed stride could lock onto a client's
  // round-robin over a few keys.
  bool sampled() {
    random_ ^= random_ << 13;
    random_ ^= random_ >> 7;
    random_ ^= random_ << 17;
    return random_ < threshold_;  // a comparison, not a division
  }

  config::HotKeysConfig config_;
  std::uint32_t sample_;
  std::uint64_t random_;
  std::uint64_t threshold_;  // 2^64 / sample_
  SpaceSaving sketch_;
  Board* board_;
  std::size_t worker_;
  Clock::time_point last_tick_;
  Clock::time_point last_halving_;
  // The counts' span of time, aged with them: a key seen r times a second throughout has a
  // count of about r * window_, so count / window_ estimates its rate.
  double window_ = 0;
  Snapshot scratch_;
};

}  // namespace sidecache::hotkeys
