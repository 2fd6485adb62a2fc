// A key's write generation: what lets a cache write that raced a database write lose, so that
// once the writes of a key stop, the cached value (if any) is the row (docs/write-modes.md,
// "Racing writes"). Asio-free.
//
// "sidecache:gen:<key>" holds a number on the key's node: the scripts below always reach it
// through a request routed by the key itself (never by its own name), so it lives beside the
// key whatever the ring says of its name. It is made from Redis' TIME in microseconds when
// absent (so a generation that expired and came back never repeats an older value) and lives
// kGenerationTtl after the last event that touched it.
//
// Events: a `through` write takes a new generation before its database write and bumps it
// again when it finishes; it caches its value only if the generation is still the one it
// took (no other write started or finished meanwhile), else it deletes the key. Deletes after
// a commit (`invalidate`, json, delete_row_on_del) and write-behind acknowledgements bump it
// when it exists. A load that cannot rely on a lease in the key reads the generation before
// its database read and stores only if it has not changed.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "cache/side_keys.hpp"

namespace sidecache::cache {

// How long a generation outlives the last event that touched it. A load that takes longer than
// half of it is not stored: the generation it read might have expired (and been made again)
// meanwhile. A write whose generation expired finds another value and deletes the key.
inline constexpr std::chrono::milliseconds kGenerationTtl{10000};

// "sidecache:gen:<key>", or in the key's slot on a cluster pool (cache/side_keys.hpp).
std::string generation_key(std::string_view key, SideKeys layout);

// KEYS generation [pending-hash key]; ARGV ttl_ms, "read" | "bump". Makes the generation when
// absent, bumps it on "bump", and answers it (a bulk string). With a write-behind pending hash:
// "0" (a value no generation has) when the key has writes queued: the database may still
// change under a load, which must not be stored. It also sets "<pending-hash>:loads" for the
// TTL: the node's acknowledgements bump generations only while that key exists.
extern const std::string_view kGenerationScript;

// A load's store: KEYS key, generation [negative marker key]; ARGV stamp, kind, ttl_ms,
// payload. Only when the generation still is `stamp`: kind "s" sets the string payload (a
// value or the negative marker) with PX ttl_ms; "h" replaces the hash by the payload's fields
// and values; "a" deletes the key and, with the third key, sets the negative marker there.
// Answers 1 (stored) or 0 (a write came during the load: nothing stored).
extern const std::string_view kStoreIfGenerationScript;

// A `through` write's cache write after its commit: KEYS key, generation; ARGV generation
// taken before the database write, "s" | "h", ttl_ms, payload (value, or fields and values).
// Bumps the generation. When it is still the one taken: "s" sets the value with PX ttl_ms,
// "h" sets the fields if the hash is cached; answers 1. Otherwise deletes the key: 0.
extern const std::string_view kThroughFinishScript;

// A delete after a commit: KEYS key, generation; ARGV DEL | UNLINK. Bumps the generation if
// it exists and answers the delete's count.
extern const std::string_view kDeleteBumpScript;

}  // namespace sidecache::cache
