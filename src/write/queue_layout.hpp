// The write-behind queue's layout in Redis and the scripts that fill it (docs/write-modes.md).
// One Redis Stream per node, named so that it hashes to that node ("sidecache:wb:{N}", N
// searched at startup), holds the queued writes; a hash on the same node ("sidecache:wbp:{N}")
// counts the queued writes of each key (read-your-writes); a lease ("sidecache:wbl:{N}") names
// the node's flusher; rejected entries go to "sidecache:wbdead:{N}". The workers' Writers fill
// the queue with these scripts; the flushers (writeback/) empty it. Asio-free.
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
};

// Finds, for each of `nodes` nodes, names that `node_for_key` places on that node. Deterministic:
// the same routing gives the same names in every process and after restarts.
std::vector<NodeQueue> queue_names(
    std::uint32_t nodes, const std::function<std::uint32_t(std::string_view)>& node_for_key);

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
// DEL of a write-behind key without delete_row_on_del: KEYS key, pending; ARGV DEL | UNLINK.
// A key with writes still queued keeps its value (answered as deleted when it exists: the
// cached copy is dropped once flushed, by its TTL); any other key is deleted.
extern const std::string_view kDelUnlessQueuedScript;

}  // namespace sidecache::write
