#include "hotkeys/board.hpp"

#include <algorithm>
#include <cstdio>
#include <unordered_map>
#include <utility>

#include "hotkeys/key_hash.hpp"

namespace sidecache::hotkeys {

std::string hash_hex(std::uint64_t hash) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

std::vector<HotKey> merge(std::span<const Snapshot> snapshots, std::size_t n) {
  struct Merged {
    HotKey key;
    double present_min_rate = 0;  // the min rates of the snapshots that hold it
    std::uint64_t present_min_count = 0;
  };
  std::unordered_map<std::uint64_t, Merged> keys;
  double min_rate = 0;  // every full snapshot's smallest count, as a rate
  std::uint64_t min_count = 0;
  for (const Snapshot& s : snapshots) {
    if (s.window_seconds <= 0) continue;
    const double per_count = static_cast<double>(s.sample) / s.window_seconds;
    const std::uint64_t smallest = s.min_count * s.sample;
    min_rate += static_cast<double>(s.min_count) * per_count;
    min_count += smallest;
    for (const auto& e : s.entries) {
      auto [it, fresh] = keys.try_emplace(e.hash);
      HotKey& k = it->second.key;
      if (fresh) {
        k.hash = e.hash;
        k.key = e.key;
        k.key_len = e.key_len;
      }
      k.rate += static_cast<double>(e.count) * per_count;
      k.count += e.count * s.sample;
      k.error += e.error * s.sample;
      it->second.present_min_rate += static_cast<double>(s.min_count) * per_count;
      it->second.present_min_count += smallest;
    }
  }
  std::vector<HotKey> out;
  out.reserve(keys.size());
  for (auto& [hash, m] : keys) {
    // The snapshots without a counter for this key may each have seen it `min_count` times.
    const std::uint64_t unseen = min_count - m.present_min_count;
    m.key.rate += std::max(0.0, min_rate - m.present_min_rate);
    m.key.count += unseen;
    m.key.error += unseen;
    out.push_back(std::move(m.key));
  }
  const auto hotter = [](const HotKey& a, const HotKey& b) {
    if (a.rate != b.rate) return a.rate > b.rate;
    return a.hash < b.hash;
  };
  if (out.size() > n) {
    std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), out.end(), hotter);
    out.resize(n);
  } else {
    std::sort(out.begin(), out.end(), hotter);
  }
  return out;
}

Board::Board(std::size_t workers) {
  for (std::size_t i = 0; i < workers; ++i) slots_.push_back(std::make_unique<Slot>());
}

void Board::publish(std::size_t worker, Snapshot& snapshot) {
  Slot& slot = *slots_.at(worker);
  const std::lock_guard lock(slot.mutex);
  std::swap(slot.snapshot, snapshot);
}

std::vector<HotKey> Board::top(std::size_t n) const {
  std::vector<Snapshot> copies;
  copies.reserve(slots_.size());
  for (const auto& slot : slots_) {
    const std::lock_guard lock(slot->mutex);
    copies.push_back(slot->snapshot);
  }
  return merge(copies, n);
}

std::size_t Board::entries() const {
  std::size_t total = 0;
  for (const auto& slot : slots_) {
    const std::lock_guard lock(slot->mutex);
    total += slot->snapshot.entries.size();
  }
  return total;
}

}  // namespace sidecache::hotkeys
