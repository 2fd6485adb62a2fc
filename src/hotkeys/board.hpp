// Where the workers' hot-key sketches meet: each worker publishes a copy of its sketch to its
// slot on a timer (Tracker::tick); readers (SIDECACHE HOTKEYS on any worker, /debug/hotkeys and
// the metrics on the HTTP thread) merge the slots. A slot's mutex is taken by its worker once per
// tick and by readers, never on the request path. Asio-free.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace sidecache::hotkeys {

// One worker's sketch as published.
struct Snapshot {
  struct Entry {
    std::uint64_t hash = 0;
    std::string key;  // at most SpaceSaving::kKeyBytes bytes
    std::uint32_t key_len = 0;
    std::uint64_t count = 0;  // sampled occurrences, aged
    std::uint64_t error = 0;
  };
  double window_seconds = 0;    // the aged span of time the counts cover
  std::uint32_t sample = 1;     // one key access in `sample` was counted
  std::uint64_t min_count = 0;  // a key absent here was counted at most this often
  std::vector<Entry> entries;   // hottest first
};

// A key of the merged view.
struct HotKey {
  std::uint64_t hash = 0;
  std::string key;            // at most SpaceSaving::kKeyBytes bytes of it
  std::uint32_t key_len = 0;  // the key's full length: more than key.size() when cut short
  double rate = 0;            // estimated requests per second over the aged window
  std::uint64_t count = 0;    // estimated requests in the aged window (an upper bound)
  std::uint64_t error = 0;    // count - error <= true requests <= count (before aging)
};

// The `n` hottest keys of the merged snapshots, hottest first. Space-Saving summaries merge by
// adding counts; a summary that has no counter for a key adds its smallest count to both the
// key's count and its error (Agarwal et al., "Mergeable summaries", 2012).
std::vector<HotKey> merge(std::span<const Snapshot> snapshots, std::size_t n);

class Board {
 public:
  explicit Board(std::size_t workers);

  // Worker `worker`'s new snapshot; the previous one is left in `snapshot` for reuse.
  void publish(std::size_t worker, Snapshot& snapshot);
  // Merges every worker's latest snapshot.
  std::vector<HotKey> top(std::size_t n) const;
  // Counters in use across the workers' sketches (sidecache_hotkeys_sketch_entries).
  std::size_t entries() const;
  std::size_t workers() const { return slots_.size(); }

 private:
  struct Slot {
    mutable std::mutex mutex;
    Snapshot snapshot;
  };
  std::vector<std::unique_ptr<Slot>> slots_;
};

}  // namespace sidecache::hotkeys
