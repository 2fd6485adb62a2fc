// The seam between the read-through engine and a write mode whose cache can be newer than the
// database (write-behind: a client's writes may still be queued when a load returns an older
// row). The engine stores what it loads itself, unless the hook takes the policy: then the hook
// stores the row in one step that looks at the cache first, and says what the readers waiting
// for the load get. The write side implements it (write::BehindStore); the daemon sets it on
// cache::Shared. Asio-free.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "cache/policy.hpp"
#include "cache/value.hpp"

namespace sidecache {
class NodeSender;
}  // namespace sidecache

namespace sidecache::cache {

struct StoreRequest {
  std::string key;
  bool hash = false;     // the policy maps rows to hashes
  bool miss = true;      // loaded because a read missed (false: a refresh or warming)
  LoadResultPtr loaded;  // kValue, or kAbsent (the row is gone)
  Millis ttl{0};         // the physical TTL of a stored value
  // The key's write generation read before the load (cache/generation.hpp): stored only if it
  // is unchanged. Empty: not checked.
  std::string stamp;
};

struct StoreOutcome {
  LoadResultPtr result;     // what the readers get: the loaded row, or what the cache holds
  bool stored = false;      // the loaded row went into Redis (absent: the cached copy is gone)
  bool superseded = false;  // not stored: the key's write generation changed during the load
};

class StoreHook {
 public:
  virtual ~StoreHook() = default;
  // True when this hook stores the loads of `policy`.
  virtual bool takes(const Policy& policy) const = 0;
  // On the worker's thread: stores `request` through `nodes` (the worker's node connections)
  // and calls `done` once, on the worker's thread, when Redis has answered.
  virtual void store(NodeSender& nodes, StoreRequest request,
                     std::function<void(StoreOutcome)> done) = 0;
  // The Redis key whose field `key` says the database may still change under a load of `key`
  // (write-behind: its queued writes), read with the key's write generation; empty: none.
  virtual std::string pending_hash(NodeSender& nodes, std::string_view key) const = 0;
};

}  // namespace sidecache::cache
