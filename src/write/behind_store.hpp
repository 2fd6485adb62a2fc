// Write-behind's store hook (cache/store_hook.hpp): a load of a `behind` policy key may be
// older than the cache, since the client's writes reach the database later (read-your-writes,
// docs/write-modes.md). The row is stored by one script that checks the key's pending count
// (the node's pending-count hash of the write-behind queue) and keeps a newer cached value.
// Asio-free.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/side_keys.hpp"
#include "cache/store_hook.hpp"

namespace sidecache::write {

using cache::Value;

// Write-behind (docs/write-modes.md, read-your-writes): one EVAL that stores a loaded row
// (`value`; null: the row is gone, so a cached copy is deleted) unless the cache is newer than
// the row: the key has writes queued for the database (its field in `pending`, the
// pending-count hash on the key's node; empty when unknown), or it exists without a TTL, or,
// for a load after a miss (`miss`), it was written since the miss. Then the cached value stays
// and the script answers it, for the waiting readers. With a `stamp` (the key's write
// generation read before the load, cache/generation.hpp), a generation that changed since (a
// queued write was flushed during the load) stores nothing either: the readers get the cached
// value if any, else the loaded row.
std::string guarded_store_request(std::string_view key, std::string_view pending, bool miss,
                                  const Value* value, std::int64_t ttl_ms,
                                  std::string_view stamp = {},
                                  cache::SideKeys layout = cache::SideKeys::kPlain);
// What the guarded store did: stored the row, or kept the cached value (`kept`: nullopt when
// the key is absent). Nullopt: an error reply or not the script's reply.
struct GuardOutcome {
  bool stored = false;
  bool superseded = false;  // not stored: the key's write generation changed during the load
  bool loaded = false;      // not stored, nothing cached: the readers get the loaded row
  std::optional<Value> kept;
};
std::optional<GuardOutcome> guard_outcome(std::string_view reply, bool is_hash);

class BehindStore final : public cache::StoreHook {
 public:
  // `pending`: the name of each queue's pending hash, by node index, or by slot when
  // `by_slot` (a Redis Cluster pool: one queue per slot).
  explicit BehindStore(std::vector<std::string> pending, bool by_slot = false)
      : pending_(std::move(pending)), by_slot_(by_slot) {}
  bool takes(const cache::Policy& policy) const override;
  void store(NodeSender& nodes, cache::StoreRequest request,
             std::function<void(cache::StoreOutcome)> done) override;
  std::string pending_hash(NodeSender& nodes, std::string_view key) const override;

 private:
  // The pending hash of `key`, placed on `node`; empty when none.
  std::string_view pending_of(std::string_view key, std::uint32_t node) const;

  std::vector<std::string> pending_;
  bool by_slot_ = false;
};

}  // namespace sidecache::write
