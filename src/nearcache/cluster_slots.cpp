#include "nearcache/cluster_slots.hpp"

namespace sidecache::nearcache {

SlotSet moved_slots(const route::ClusterSlots& before, const route::ClusterSlots& after) {
  SlotSet moved;
  const auto& old_nodes = before.nodes();
  const auto& new_nodes = after.nodes();
  for (std::uint32_t slot = 0; slot < route::kClusterSlots; ++slot) {
    const auto s = static_cast<std::uint16_t>(slot);
    const auto a = before.node_of_slot(s);
    const auto b = after.node_of_slot(s);
    const bool same =
        a < old_nodes.size() && b < new_nodes.size() && old_nodes[a].name == new_nodes[b].name;
    if (!same) moved.set(slot);
  }
  return moved;
}

std::string cluster_marker_key(std::string_view prefix, std::uint32_t node,
                               const route::ClusterSlots& slots) {
  // A short tag per try: 16384 slots, so a node holding a fraction f of them is found in
  // about 1/f tries; every slot is tried within a few hundred thousand.
  for (std::uint32_t i = 0; i < 1u << 20; ++i) {
    const std::string tag = std::to_string(i);
    if (slots.node_of_slot(route::key_slot(tag)) == node) {
      return std::string(prefix) + std::to_string(node) + ":{" + tag + "}";
    }
  }
  return {};
}

}  // namespace sidecache::nearcache
