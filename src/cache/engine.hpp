// The read-through engine of one worker, a step of its policy chain: takes GET/MGET (column,
// json) and HGET, HMGET, HGETALL, HEXISTS, HLEN (hash; by their cache role) on policy keys,
// answers hits from Redis
// and loads misses from the database (single flight, optional lease), storing what it loads.
// Runs on its worker's thread; talks to Redis through the worker's NodeSender and to
// the database through DbRunner. Asio-free (Runtime gives it posts and timers).
//
// What is stored: the value itself (a string, or the fields of a hash) with a physical TTL of
// ttl (+-jitter) + grace, grace = max(stale_while_revalidate, stale_if_error). A read pipelines
// the command and PTTL; logical expiry = PTTL - grace.
//
// Markers. String policies (GET/MGET) that no store hook takes keep them in the key itself, so
// that one round trip reads the value, the negative marker and tries the lease: an absent row
// is the key holding kNegativeMarker with PX negative_ttl; a miss's lease is the key holding
// lease_marker(token) with PX lease_ttl, taken by the read itself when it asks
// (SET key <lease marker> NX GET PX lease_ttl, pipelined with PTTL), else right after it
// (SET key <lease marker> NX PX lease_ttl). Hash policies and the policies a store hook takes
// keep them beside the key: "sidecache:neg:<key>" and "sidecache:lease:<key>" (named in the
// key's slot on a cluster pool: cache/side_keys.hpp), asked for with
// EXISTS and SET NX PX pipelined with the read when it asks, else right after it. A read asks
// per lease_in_read: always, never, or (auto) unless the key is known to hit (RecentHits).
// Refreshes and warming take their lease beside the key for every policy (the key holds the
// value being refreshed).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/policy_chain.hpp"
#include "cache/shared.hpp"
#include "hotkeys/hot_set.hpp"
#include "sidecache/node_sender.hpp"

namespace sidecache::cache {

class StoreHook;

class Engine : public ChainStep, public std::enable_shared_from_this<Engine> {
 public:
  Engine(std::shared_ptr<Shared> shared, std::shared_ptr<Runtime> runtime, NodeSender& nodes);

  // Takes the request when its command is a read-through read (its cache role) on at least
  // one policy key (exactly one reply goes to `target`, later); false: route it as usual.
  bool handle(ChainRequest& request, const ReplyTarget& target) override;

  // Loads `ids` of policy `index` (bounded concurrency, batches), then calls `done` on this
  // worker with the number of keys warmed. `ids` empty and a warm query: the query's ids.
  void warm(std::shared_ptr<const Snapshot> snap, std::size_t index,
            std::function<void(std::uint64_t)> done);

  // Warms the policies `indexes` of `snap` (concurrently), then calls `done`.
  void warm_all(std::shared_ptr<const Snapshot> snap, std::vector<std::size_t> indexes,
                std::function<void()> done);

  // This worker's hottest keys (hotkeys.refresh_top), or nullptr: a hit of one of them with at
  // most `ahead` of its policy's TTL left reloads it (the set outlives the engine's use).
  void set_hot_keys(const hotkeys::HotSet* hot, double ahead) {
    hot_ = hot;
    hot_ahead_ = ahead;
  }

  struct KeyLoad {
    std::string key;
    std::string id;
    std::string token;          // the lease token when this sidecache holds the key's lease
    bool miss = true;           // loaded because a read missed (false: refresh, warming)
    bool lease_in_key = false;  // the lease is the key itself holding lease_marker(token)
    // Write policies without a lease in the key: the key's write generation read before the
    // database read ("0" when it could not be read), and when (cache/generation.hpp).
    bool stamped = false;
    std::string stamp{};
    std::chrono::steady_clock::time_point stamped_at{};
  };

 private:
  struct Read;
  struct Warm;
  using ReadPtr = std::shared_ptr<Read>;
  using SnapPtr = std::shared_ptr<const Snapshot>;

  // Read path (engine.cpp): one state machine per request, see Engine::Read.
  void read_key(const ReadPtr& r, std::size_t i);
  void on_read(const ReadPtr& r, std::size_t i);
  void read_again(const ReadPtr& r, std::size_t i);
  // Whether a read of `key` asks for its lease (and markers beside it) in the same round trip.
  bool asks_in_read(Read& r, std::size_t i, const config::CachePolicy& config);
  // Whether lease_in_read: auto guesses for a policy (there is something to ask for).
  static bool guesses(const config::CachePolicy& config, bool in_key);
  void ask_beside(const ReadPtr& r, std::size_t i);
  void start_misses(const ReadPtr& r);
  void probe(const ReadPtr& r, const std::vector<std::size_t>& leases);
  void on_probed(const ReadPtr& r);
  void on_loaded(const ReadPtr& r, std::size_t i, const LoadResultPtr& result);
  void on_timeout(const ReadPtr& r);
  void finish_slot(const ReadPtr& r, std::size_t i);
  void answer(const ReadPtr& r);
  bool refresh(const SnapPtr& snap, std::size_t index, const std::string& key,
               const std::string& id, bool early);

  // Loading (loader.cpp). The caller leads the flights of every key.
  // Background loads (refresh, warming): takes the leases (when the policy has them), then
  // continues as load_leased.
  void start_load(const SnapPtr& snap, std::size_t index, std::vector<KeyLoad> keys);
  // Loads `mine` (our lease won, or no lease) and waits for the holders of `others`' leases.
  void load_leased(const SnapPtr& snap, std::size_t index, std::vector<KeyLoad> mine,
                   std::vector<KeyLoad> others);
  void poll_lease(const SnapPtr& snap, std::size_t index, KeyLoad key,
                  std::chrono::steady_clock::time_point deadline);
  // Loads `keys` now, or gathers misses for one batched call (load_batch_window).
  void fetch(const SnapPtr& snap, std::size_t index, std::vector<KeyLoad> keys);
  void fetch_now(const SnapPtr& snap, std::size_t index, std::vector<KeyLoad> keys);
  // Reads the write generation of the keys that need it (see KeyLoad::stamp), then fetches.
  bool stamp(const SnapPtr& snap, std::size_t index, std::vector<KeyLoad>& keys);
  void flush_batch(const Snapshot* snap, std::size_t index, std::uint64_t id);
  void on_fetched(const SnapPtr& snap, std::size_t index, const std::vector<KeyLoad>& keys,
                  const db::FetchResult& result, std::chrono::nanoseconds took);
  void store(const Policy& p, const std::shared_ptr<PolicyStats>& stats, const KeyLoad& k,
             std::shared_ptr<LoadResult> loaded);
  void store_hooked(StoreHook& hook, const Policy& p, const std::shared_ptr<PolicyStats>& stats,
                    const KeyLoad& k, std::shared_ptr<LoadResult> loaded);
  // A load with a generation stamp: stored only if the key's write generation did not change.
  void store_stamped(const Policy& p, const std::shared_ptr<PolicyStats>& stats, const KeyLoad& k,
                     std::shared_ptr<LoadResult> loaded);
  void release_lease(const KeyLoad& key);
  void warm_next(const std::shared_ptr<Warm>& w);

  // True when `p` keeps its markers in the key (see the top of this file). The store hook is
  // looked up once per snapshot (it takes a lock).
  bool markers_in_key(const SnapPtr& snap, const Policy& p);

  std::string token();
  double uniform();

  const hotkeys::HotSet* hot_ = nullptr;
  double hot_ahead_ = 0;

  std::string token_prefix_;
  std::uint64_t token_count_ = 0;
  SnapPtr hook_snap_;
  std::shared_ptr<StoreHook> hook_;
  // False once Redis refused SET .. NX GET as a syntax error (before 7.0): reads then take the
  // lease in a second round trip.
  bool set_nx_get_ = true;

  std::shared_ptr<Shared> shared_;
  // Misses of one policy gathered within load_batch_window, by (snapshot, policy index).
  struct MissBatch {
    SnapPtr snap;
    std::vector<KeyLoad> keys;
    std::uint64_t id = 0;  // which window's timer may flush it
  };
  std::map<std::pair<const Snapshot*, std::size_t>, MissBatch> batches_;
  std::uint64_t next_batch_id_ = 0;
};

}  // namespace sidecache::cache
