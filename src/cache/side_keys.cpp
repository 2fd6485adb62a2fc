#include "cache/side_keys.hpp"

#include "route/cluster_slots.hpp"
#include "route/slot_tags.hpp"
#include "sidecache/node_sender.hpp"

namespace sidecache::cache {

SideKeys side_keys_of(const NodeSender& nodes) {
  return nodes.by_slot() ? SideKeys::kSlotTagged : SideKeys::kPlain;
}

std::string side_key(std::string_view prefix, std::string_view key, SideKeys layout) {
  std::string out;
  if (layout == SideKeys::kPlain) {
    out.reserve(prefix.size() + key.size());
    out += prefix;
    out += key;
    return out;
  }
  const std::string_view tag = route::slot_tag(route::key_slot(key));
  out.reserve(prefix.size() + tag.size() + 2 + key.size());
  out += prefix;
  out += '{';
  out += tag;
  out += '}';
  out += key;
  return out;
}

std::string negative_key(std::string_view key, SideKeys layout) {
  return side_key("sidecache:neg:", key, layout);
}

std::string lease_key(std::string_view key, SideKeys layout) {
  return side_key("sidecache:lease:", key, layout);
}

}  // namespace sidecache::cache
