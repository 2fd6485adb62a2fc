// The keys one worker counts among its hottest, as a set the request path can ask cheaply: the
// read-through engine reloads such a key ahead of its expiry (hotkeys.refresh_top). Rebuilt
// from the worker's sketch on each tick; keys are held by their 64-bit hash (key_hash.hpp), so a
// lookup is one hash of the key and a scan of at most refresh_top integers. A hash collision
// costs an early reload of a key that is not hot, never a wrong answer. Single-threaded (one
// worker). Asio-free.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

#include "hotkeys/key_hash.hpp"
#include "hotkeys/space_saving.hpp"

namespace sidecache::hotkeys {

class HotSet {
 public:
  // Those of the `n` hottest keys of `sketch` whose count is mostly certain: more than half
  // of it counted since the key took its counter (count - error > error). A key that just took
  // over a full sketch's counter inherits its count as error, so it is not hot yet.
  void rebuild(const SpaceSaving& sketch, std::size_t n) {
    hashes_.clear();
    if (n == 0) return;
    for (const auto& c : sketch.top(n)) {
      if (c.count - c.error > c.error) hashes_.push_back(c.hash);
    }
    std::sort(hashes_.begin(), hashes_.end());
  }
  void clear() { hashes_.clear(); }
  bool empty() const { return hashes_.empty(); }
  std::size_t size() const { return hashes_.size(); }
  bool contains(std::string_view key) const {
    return !hashes_.empty() && std::binary_search(hashes_.begin(), hashes_.end(), key_hash(key));
  }

 private:
  std::vector<std::uint64_t> hashes_;
};

}  // namespace sidecache::hotkeys
