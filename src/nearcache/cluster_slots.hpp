// The near cache on a Redis Cluster pool: what a new slot map means for the L1, and the lag
// probe's marker key per primary. Pure functions over route::ClusterSlots. Asio-free.
#pragma once

#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>

#include "route/cluster_slots.hpp"

namespace sidecache::nearcache {

using SlotSet = std::bitset<route::kClusterSlots>;

// The slots whose owner (the primary, by name) differs between two slot maps: the entries of
// these slots were read from a node that no longer holds them, and are dropped.
SlotSet moved_slots(const route::ClusterSlots& before, const route::ClusterSlots& after);

// Whether `key` lies in one of `slots`.
inline bool in_slots(const SlotSet& slots, std::string_view key) {
  return slots.test(route::key_slot(key));
}

// The lag-probe marker key of primary `node`: `prefix` + node + ":{tag}", the hash tag chosen
// so that the key's slot is one the node owns (a marker elsewhere would get MOVED). Empty when
// the node owns no slot.
std::string cluster_marker_key(std::string_view prefix, std::uint32_t node,
                               const route::ClusterSlots& slots);

}  // namespace sidecache::nearcache
