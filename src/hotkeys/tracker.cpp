#include "hotkeys/tracker.hpp"

namespace sidecache::hotkeys {

Tracker::Tracker(const config::HotKeysConfig& config, Board* board, std::size_t worker,
                 Clock::time_point now)
    : config_(config),
      sample_(config.sample == 0 ? 1 : config.sample),
      random_(0x9e3779b97f4a7c15ULL * (worker + 1)),
      threshold_(~std::uint64_t{0} / sample_),
      sketch_(config.capacity),
      board_(board),
      worker_(worker),
      last_tick_(now),
      last_halving_(now) {
  if (board_ != nullptr) board_->publish(worker_, scratch_);  // an empty view until the first tick
}

void Tracker::tick(Clock::time_point now) {
  if (now > last_tick_) {
    window_ += std::chrono::duration<double>(now - last_tick_).count();
    last_tick_ = now;
  }
  // One halving per half-life that passed (a worker stalled for several gets them all; after
  // 64 nothing is left to halve).
  for (int i = 0; i < 64 && now - last_halving_ >= config_.half_life; ++i) {
    sketch_.halve();
    window_ /= 2;
    last_halving_ += config_.half_life;
  }
  if (now - last_halving_ >= config_.half_life) last_halving_ = now;
  if (board_ == nullptr) return;
  scratch_.window_seconds = window_;
  scratch_.sample = sample_;
  scratch_.min_count = sketch_.min_count();
  const auto top = sketch_.top(sketch_.size());
  scratch_.entries.resize(top.size());
  for (std::size_t i = 0; i < top.size(); ++i) {
    auto& e = scratch_.entries[i];
    e.hash = top[i].hash;
    e.key.assign(top[i].key);
    e.key_len = top[i].key_len;
    e.count = top[i].count;
    e.error = top[i].error;
  }
  board_->publish(worker_, scratch_);
}

}  // namespace sidecache::hotkeys
