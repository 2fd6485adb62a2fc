// The names of the keys the cache keeps beside a user key: its negative marker, its lease and
// its write generation. On a ring (and a sentinel pool) they are "sidecache:<kind>:<key>", as
// they always were (existing data keeps its meaning). On a Redis Cluster pool every script
// that touches a key and its side keys must find them in one slot, and they must move with
// the key's slot: there they are "sidecache:<kind>:{<tag>}<key>", <tag> the slot's tag
// (route/slot_tags.hpp), so the name's hash tag is ours and places it in the key's slot
// whatever the key holds (its own {tag}, a stray brace). Asio-free.
#pragma once

#include <string>
#include <string_view>

namespace sidecache {
class NodeSender;
}

namespace sidecache::cache {

enum class SideKeys { kPlain, kSlotTagged };

// kSlotTagged when `nodes` places keys by cluster slot.
SideKeys side_keys_of(const NodeSender& nodes);

// "<prefix><key>", or "<prefix>{<tag of slot(key)>}<key>" (kSlotTagged). `prefix` has no brace.
std::string side_key(std::string_view prefix, std::string_view key, SideKeys layout);

std::string negative_key(std::string_view key, SideKeys layout);  // "sidecache:neg:..."
std::string lease_key(std::string_view key, SideKeys layout);     // "sidecache:lease:..."

}  // namespace sidecache::cache
