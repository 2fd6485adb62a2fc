// Commands whose keys live on several nodes: one sub-request per node, sent in parallel, and a
// merger that answers the client once every part has replied.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sidecache/node_sender.hpp"

namespace sidecache::dispatch {

// How the parts' replies combine into the client's reply.
enum class MergeKind : std::uint8_t {
  kMget,          // arrays, elements put back in the client's key order
  kAllOk,         // +OK from every part -> +OK (MSET, SCRIPT FLUSH)
  kSumIntegers,   // integers summed (DEL, UNLINK, EXISTS, TOUCH, DBSIZE)
  kAllEqual,      // every part must answer the same (SCRIPT LOAD's sha)
  kAndArrays,     // arrays of 0/1 combined element-wise with AND (SCRIPT EXISTS)
  kConcatArrays,  // arrays (or RESP3 sets) concatenated in node order (KEYS)
  kAnyNonNull,    // one non-null reply picked at random, null when all are (RANDOMKEY)
};

// Working memory of split_by_node, owned by the caller and reused across requests so the
// steady state allocates only the merge itself.
struct SplitScratch {
  std::vector<std::int32_t> part_of_node;
  std::vector<std::uint32_t> part_nodes;
  std::vector<std::uint32_t> key_part;
  std::vector<std::size_t> part_args;
  std::string request;
};

// Splits a multi-key command by node. `key_positions` index args; each key carries the
// `step` - 1 arguments after it (MSET's value). Sends one request per node; if all keys share a
// node, sends the client's raw bytes (`raw`, which must be RESP) unchanged instead. `read_only`
// (MGET, EXISTS, ...): every part is sent as a read (NodeSender::send_read), so it goes where a
// single-key read of its keys would (a cluster pool's replica under read_from).
void split_by_node(MergeKind kind, std::span<const std::string_view> args,
                   std::span<const std::uint32_t> key_positions, int step, std::string_view raw,
                   NodeSender& nodes, ReplyTarget target, SplitScratch& scratch,
                   bool read_only = false);

// Sends the same request to every node and merges the replies.
void broadcast(MergeKind kind, std::string_view request, NodeSender& nodes, ReplyTarget target);

}  // namespace sidecache::dispatch
