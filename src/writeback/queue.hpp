// The pure parts of flushing the write-behind queue (its layout and the scripts that fill it:
// write/queue_layout.hpp; see docs/write-modes.md): stream entries, the database work planned
// from a batch (coalescing, order), backoff, and the scripts a flusher runs: acknowledging a
// written batch and holding the node's lease, which makes one flusher of many sidecaches the
// node's only flusher, so per-key order holds. Asio-free.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "db/database.hpp"

namespace sidecache::writeback {

inline constexpr std::string_view kGroup = "sidecache";

// One queued write as stored in the stream: fields k (key), p (policy name), id, op
// (set | hset | del) and, for set, v; for hset, "f:<field>" per field. A stream entry holds
// the writes of one enqueue call ("n", their number, then each write's fields from its "k");
// an entry of the previous layout holds one write and no "n".
struct Entry {
  std::string stream_id;   // "1700000000000-0"
  std::uint32_t part = 0;  // the write's place in its stream entry
  std::string key;
  std::string policy;
  std::string id;
  enum class Op { kSet, kHset, kDel } op = Op::kSet;
  std::string value;
  std::vector<std::pair<std::string, std::string>> fields;
};

// Parses one write's field/value list; nullopt when it is not one of ours.
std::optional<Entry> parse_entry(std::string stream_id,
                                 std::span<const std::pair<std::string, std::string>> fields);

// A stream entry as read: its id, its writes (0: not one of ours, acknowledged unread) and
// the number it adds to the node's queued-writes counter ("n"; 0 for the previous layout).
struct StreamEntry {
  std::string id;
  std::uint32_t writes = 0;
  std::uint32_t counted = 0;
};

// Parses a stream entry (either layout) and appends its writes to `out`, parts 0, 1, ... in
// order; a write that is not one of ours is left out.
StreamEntry parse_stream_entry(std::string stream_id,
                               std::span<const std::pair<std::string, std::string>> fields,
                               std::vector<Entry>& out);

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

// Done: KEYS stream, pending, count, key...; ARGV group, id count n, ids..., the writes to
// take off the counter, then per key its ttl_ms (0: none) and its number of writes in the
// ids. XACK of the ids, then XTRIM MINID below the oldest entry still pending. A key whose
// pending field names one of the ids (its last queued write is done) is removed from the
// pending hash and gets its TTL back; a field holding a count (the previous layout) drops by
// the key's writes, the same at zero. While "<pending>:loads" exists (a load may be running),
// the write generation ("sidecache:gen:<key>", cache/generation.hpp) of each key whose last
// queued write is in the ids goes up, where it exists.
extern const std::string_view kDoneScript;
// Lease: KEYS lease; ARGV owner, ttl_ms. 1 when the caller holds it (taken or renewed).
extern const std::string_view kLeaseScript;
// A cluster slot's queue, when empty: KEYS stream, pending, count, lease; ARGV owner. With the
// lease held by `owner` and nothing queued (no stream entry, no pending field, the counter at
// 0 or absent), deletes the stream (its consumer group too), the counter and the lease: 1;
// else 0. The next enqueue makes the stream again; the flusher makes its group on NOGROUP
// (from id 0: nothing is skipped).
extern const std::string_view kDropEmptyQueueScript;

}  // namespace sidecache::writeback
