// The write-behind queue's layout in Redis and the pure parts of flushing (see
// docs/write-modes.md). One Redis Stream per node, named so that it hashes to that node
// ("sidecache:wb:{N}", N searched at startup), holds the queued writes; a hash on the same node
// ("sidecache:wbp:{N}") counts the queued writes of each key (read-your-writes); a lease
// ("sidecache:wbl:{N}") makes one flusher of many sidecaches the node's only flusher, so
// per-key order holds; rejected entries go to "sidecache:wbdead:{N}". Asio-free.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "db/database.hpp"

namespace sidecache::write {

// The Redis names of one node's queue.
struct NodeQueue {
  std::string stream;
  std::string pending;
  std::string lease;
  std::string dead;
};

// Finds, for each of `nodes` nodes, names that `node_for_key` places on that node. Deterministic:
// the same routing gives the same names in every process and after restarts.
std::vector<NodeQueue> queue_names(
    std::uint32_t nodes, const std::function<std::uint32_t(std::string_view)>& node_for_key);

inline constexpr std::string_view kGroup = "sidecache";

// One queued write as stored in the stream: fields k (key), p (policy name), id, op
// (set | hset | del) and, for set, v; for hset, "f:<field>" per field.
struct Entry {
  std::string stream_id;  // "1700000000000-0"
  std::string key;
  std::string policy;
  std::string id;
  enum class Op { kSet, kHset, kDel } op = Op::kSet;
  std::string value;
  std::vector<std::pair<std::string, std::string>> fields;
};

// Parses a stream entry's field/value list; nullopt when it is not one of ours.
std::optional<Entry> parse_entry(std::string stream_id,
                                 std::span<const std::pair<std::string, std::string>> fields);

// The database work for the entries of one policy, in stream order: runs of upserts and runs of
// deletes (each run one Database::write call in one transaction when coalescing is off; one
// call in all when it is on, since a key then appears once).
struct WritePlan {
  struct Step {
    std::vector<db::Upsert> upserts;
    std::vector<std::string> deletes;
  };
  std::vector<Step> steps;
  std::uint64_t coalesced = 0;  // entries folded into a later entry of the same key
};

// A json mapping: a set's value is a JSON object of columns (write/json_row.hpp).
struct JsonSet {
  std::string key_column;  // a member of this name is left out
};

// `value_column`: the column of a column mapping; empty for a hash mapping (fields are columns).
// With `coalesce`, a key's entries become one upsert (fields merged in order, a later set
// replacing an earlier one) or one delete (when its last entry is a delete). `json` set: sets
// hold JSON objects whose members are the columns, merged in order as hash fields are.
WritePlan plan_writes(std::span<const Entry* const> entries, const std::string& value_column,
                      bool coalesce, const JsonSet* json = nullptr);

// Exponential backoff with full jitter in [delay/2, delay]: min * 2^attempt capped at max.
std::chrono::milliseconds backoff(std::chrono::milliseconds min, std::chrono::milliseconds max,
                                  std::uint32_t attempt, double unit_random);

// The SHA1 of a script, as EVALSHA wants it (40 lower-case hex digits).
std::string script_sha1(std::string_view script);

// Scripts (EVAL). Enqueue: one or more writes of one node in one atomic step. KEYS stream,
// pending, then per write its key (and its negative marker when on the same node: deleted
// too); ARGV per write: key count (1|2), queue_max, must_exist (0|1), policy, id, op
// (set|incr|hset|hincr|del), payload count n, then the payload (set: value; incr: delta; hset:
// field value ...; hincr: field delta). Answers an array, per write what the client's command
// answers, or the errors "SIDECACHE_FULL ..." (queue at queue_max) and "SIDECACHE_MISS"
// (must_exist and the key is not cached: the caller loads it first).
extern const std::string_view kEnqueueScript;
// Done: KEYS stream, pending, key...; ARGV group, ttl_ms (0: none), id count n, ids..., then one
// count per key. XACK of the ids, then XTRIM MINID below the oldest entry still pending; each
// key's pending count drops by its count, and a key with none left gets its TTL back.
extern const std::string_view kDoneScript;
// DEL of a write-behind key without delete_row_on_del: KEYS key, pending; ARGV DEL | UNLINK.
// A key with writes still queued keeps its value (answered as deleted when it exists: the
// cached copy is dropped once flushed, by its TTL); any other key is deleted.
extern const std::string_view kDelUnlessQueuedScript;
// Lease: KEYS lease; ARGV owner, ttl_ms. 1 when the caller holds it (taken or renewed).
extern const std::string_view kLeaseScript;

}  // namespace sidecache::write
