// The write-behind queue's layout in Redis and the scripts that fill it (docs/write-modes.md).
// One Redis Stream per node, named so that it hashes to that node ("sidecache:wb:{N}", N
// searched at startup), holds the queued writes: one stream entry per enqueue call, holding
// every write of that call (a batch). A hash on the same node ("sidecache:wbp:{N}") names, for
// each key with queued writes, the stream entry of its last one (read-your-writes; the
// previous layout counted them, which the flushers still understand); a counter
// ("sidecache:wbn:{N}") holds the number of queued writes (the queue bound); a lease
// ("sidecache:wbl:{N}") names the node's flusher; rejected entries go to
// "sidecache:wbdead:{N}". The workers' Writers fill the queue with these scripts; the flushers
// (writeback/) empty it. Asio-free.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sidecache::write {

// The Redis names of one node's queue.
struct NodeQueue {
  std::string stream;
  std::string pending;
  std::string lease;
  std::string dead;
  std::string count;
};

// On a Redis Cluster pool (docs/cluster.md) a script's keys must share one slot and a slot's
// keys move together, so the queue is one set of these names per slot, created on demand:
// "sidecache:wb:{<tag>}", "sidecache:wbp:{<tag>}", ... with <tag> the slot's tag
// (route/slot_tags.hpp). A key's writes go to the queue of its slot.
NodeQueue slot_queue(std::uint16_t slot);
// The queues of all 16384 slots, by slot.
std::vector<NodeQueue> slot_queues();
// The slot whose queue stream is `name`; -1 when `name` is not such a stream's name.
int queue_stream_slot(std::string_view name);
// The pattern that matches every slot's queue stream (SCAN MATCH), and only those.
inline constexpr std::string_view kSlotStreamPattern = "sidecache:wb:{*}";

// Finds, for each of `nodes` nodes, names that `node_for_key` places on that node. Deterministic:
// the same routing gives the same names in every process and after restarts.
std::vector<NodeQueue> queue_names(
    std::uint32_t nodes, const std::function<std::uint32_t(std::string_view)>& node_for_key);

// The SHA1 of a script, as EVALSHA wants it (40 lower-case hex digits).
std::string script_sha1(std::string_view script);

// Scripts (EVAL). Enqueue: one or more writes of one node in one atomic step. KEYS stream,
// pending, count, then per write its key (and its negative marker when on the same node:
// deleted too); ARGV per write: key count (1|2), queue_max, must_exist (0|1), policy, id, op
// (set|incr|hset|hincr|del), payload count n, then the payload (set: value; incr: delta; hset:
// field value ...; hincr: field delta). Answers an array, per write what the client's command
// answers, or the errors "SIDECACHE_FULL ..." (queue at queue_max) and "SIDECACHE_MISS"
// (must_exist and the key is not cached: the caller loads it first). The writes that succeed
// become ONE stream entry: "n" (their number), then per write k, p, id, op and v or f:<field>
// (a write is the run of fields from its "k"); the pending hash gets that entry's id for each
// of their keys (one HSET), the counter their number.
extern const std::string_view kEnqueueScript;
// Enqueue of plain SETs only, the common case, with little Lua work per write: KEYS stream,
// pending, count, the W keys, then their negative markers on this node; ARGV W, queue_max,
// meta (set_meta: each write's policy and id), then key value ... (W pairs). Answers W, or
// "SIDECACHE_FULL ..." when the W writes do not all fit (then none is written). The stream
// entry is "n" W, "m" meta, then the pairs as they came (the key as the field's name).
extern const std::string_view kEnqueueSetsScript;
// Appends one write's policy and id to the meta field of kEnqueueSetsScript's stream entry:
// "<length>:<policy><length>:<id>" (write/flush side: writeback/queue.hpp).
void append_set_meta(std::string& meta, std::string_view policy, std::string_view id);
// DEL of a write-behind key without delete_row_on_del: KEYS key, pending; ARGV DEL | UNLINK.
// A key with writes still queued keeps its value (answered as deleted when it exists: the
// cached copy is dropped once flushed, by its TTL); any other key is deleted.
extern const std::string_view kDelUnlessQueuedScript;

}  // namespace sidecache::write
