// Keys promoted into the L1 without a pattern (near_cache.promote_hot): the workers ask for
// keys their hot-key sketch finds hot enough; the tracking thread registers each one as a
// CLIENT TRACKING BCAST prefix of its own (the key's full name) on every node's tracking
// connection; once every connection acknowledged it, the key is *active* and the request path
// treats it like a key matching a pattern (NearSettings::matches). A key stays registered and
// active until the tracking connections are replaced (reload) or the registry is cleared:
// Redis has no way to drop one BCAST prefix. At most `max_keys` keys. Thread-safe. Asio-free.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace sidecache::nearcache {

class Promotions {
 public:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using KeySet = std::unordered_set<std::string, Hash, std::equal_to<>>;

  // `prefixes`: the BCAST prefixes registered anyway (patterns', the lag marker's); a key that
  // is a prefix of one of them or starts with one is refused (Redis refuses overlapping
  // prefixes, and a covered key needs no promotion).
  void configure(std::size_t max_keys, std::vector<std::string> prefixes);
  // Forgets every key (the tracking connections are being replaced).
  void clear();

  // A worker found `key` hot. True when it was newly queued for registration.
  bool request(std::string_view key);
  // The keys to register (queued or active, not refused) and a version that changes with them.
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }
  std::vector<std::string> wanted() const;
  // Node `node` (of `nodes`) acknowledged the registration of `keys`; a key acknowledged by
  // every node becomes active.
  void acknowledged(std::uint32_t node, std::size_t nodes, const std::vector<std::string>& keys);
  // A node refused them (an overlapping prefix): never registered again.
  void refused(const std::vector<std::string>& keys);

  // The request path: whether `key` is active. No lock in the steady state: each thread keeps
  // the last snapshot and takes the lock only when the active set changed.
  bool active(std::string_view key) const;
  std::size_t active_count() const { return active_count_.load(std::memory_order_relaxed); }
  std::uint64_t promotions() const { return promotions_.load(std::memory_order_relaxed); }
  std::uint64_t refusals() const { return refusals_.load(std::memory_order_relaxed); }

 private:
  bool collides(std::string_view key) const;  // under mutex_
  void publish();                             // under mutex_: a new active snapshot

  mutable std::mutex mutex_;
  std::size_t max_keys_ = 0;
  std::vector<std::string> prefixes_;
  std::map<std::string, std::set<std::uint32_t>, std::less<>> pending_;  // key -> nodes acked
  std::set<std::string, std::less<>> refused_;
  KeySet active_set_;
  std::shared_ptr<const KeySet> snapshot_ = std::make_shared<const KeySet>();
  std::atomic<std::uint64_t> generation_;  // of snapshot_, unique across instances
  std::atomic<std::uint64_t> version_{0};
  std::atomic<std::size_t> active_count_{0};
  std::atomic<std::uint64_t> promotions_{0};
  std::atomic<std::uint64_t> refusals_{0};

 public:
  Promotions();
};

}  // namespace sidecache::nearcache
