// Key hashing compatible with twemproxy 0.5: its hash functions, and hash tags. Asio-free.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace sidecache::route {

// twemproxy's key hash functions (32-bit results, bit-compatible with nutcracker 0.5).
enum class HashKind : std::uint8_t {
  kFnv1a64,
  kFnv164,
  kFnv1a32,
  kFnv132,
  kMd5,
  kMurmur,
  kCrc16,
  kCrc32,
  kCrc32a,
  kOneAtATime,
  kJenkins,
  kHsieh,
};
std::optional<HashKind> parse_hash_kind(std::string_view name);  // "fnv1a_64", "murmur", ...
std::string_view hash_kind_name(HashKind kind);
// The raw twemproxy hash of `key` (for an empty key: the function's start value). Placement uses
// Router::node_for_key, which applies twemproxy's rule that an empty key hashes to 0.
std::uint32_t hash_key(HashKind kind, std::string_view key);

// Hash tag: when enabled and the key holds open...close with at least one byte between, only
// that part is hashed (as twemproxy's hash_tag and Redis Cluster's {...}).
struct HashTag {
  bool enabled = true;
  char open = '{';
  char close = '}';
};
std::string_view hashable_part(std::string_view key, const HashTag& tag);

}  // namespace sidecache::route
