// PUBSUB CHANNELS / SHARDCHANNELS / NUMSUB / SHARDNUMSUB across the nodes: the same request to
// every node, the replies combined (a union of channel names; per-channel sums).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sidecache/node_sender.hpp"

namespace sidecache::server {

enum class PubSubMerge { kUnion, kSumPairs };

// Sends `request` to every node; `target` gets the combined reply (or the first error).
void pubsub_query(PubSubMerge merge, std::string_view request, NodeSender& nodes,
                  const ReplyTarget& target);

// The elements of an aggregate reply (array `*`, set `~`, push `>`; a map `%` gives keys and
// values in turn) as byte ranges; false for anything else or malformed input.
bool aggregate_elements(std::string_view reply, char& type, std::vector<std::string_view>& out);

}  // namespace sidecache::server
