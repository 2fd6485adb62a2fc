// The 64-bit hash the L1 store places a key by: the standard library's string hash (libstdc++:
// MurmurHash2-64) with a splitmix64 finaliser on top, so every bit of the result depends on
// every bit of the input. The store takes the shard from the top bits, the hash-table bucket from
// the low bits, and the frequency sketch re-mixes it per row. Asio-free.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace sidecache::nearcache {

inline std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

inline std::uint64_t key_hash(std::string_view key) {
  return mix64(std::hash<std::string_view>{}(key));
}

}  // namespace sidecache::nearcache
