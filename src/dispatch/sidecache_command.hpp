// SIDECACHE: the commands of sidecache's own, answered locally (see docs/near-cache.md).
//   SIDECACHE HOTKEYS [COUNT n]  the n (default 10) hottest keys of every worker's sketch merged
//   SIDECACHE HELP
#pragma once

#include <string>

#include "dispatch/local_commands.hpp"

namespace sidecache::dispatch {

// The reply: an array, hottest first, of one entry per key. An entry is a map in RESP3 and a flat
// array of field/value pairs in RESP2 (as HELLO), with these fields in this order:
//   key         bulk string: the key, cut to its first 128 bytes
//   key_length  integer: the key's full length (more than 128: `key` was cut)
//   hash        bulk string: 16 hex digits of MurmurHash64A (seed 0), the metrics label
//   rate        requests per second over the aged window: a double in RESP3, a bulk string
//               with two decimals in RESP2
//   count       integer: estimated requests in the aged window (an upper bound)
//   error       integer: how far count may exceed the true number
void sidecache_hotkeys(const LocalRequest& request, std::string& out);
void sidecache_help(const LocalRequest& request, std::string& out);

}  // namespace sidecache::dispatch
