// The 64-bit hash that identifies a key to the hot-key sketches and names it in metric labels
// unless hotkeys.expose_names is set: MurmurHash64A (Austin Appleby), seed 0, over the key's
// bytes. Chosen for speed on short keys (8 bytes per step) and because it is published, so an
// operator can compute a key's label. Asio-free.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace sidecache::hotkeys {

inline std::uint64_t key_hash(std::string_view key) {
  constexpr std::uint64_t kMul = 0xc6a4a7935bd1e995ULL;
  constexpr int kShift = 47;
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  const std::size_t len = key.size();
  std::uint64_t h = len * kMul;  // seed 0
  const std::size_t blocks = len / 8;
  for (std::size_t i = 0; i < blocks; ++i) {
    std::uint64_t k;
    std::memcpy(&k, data + i * 8, 8);  // little-endian machines only, as the reference
    k *= kMul;
    k ^= k >> kShift;
    k *= kMul;
    h ^= k;
    h *= kMul;
  }
  const std::size_t rest = len & 7;
  if (rest != 0) {
    std::uint64_t tail = 0;  // the reference's byte-wise switch, as one little-endian load
    std::memcpy(&tail, data + blocks * 8, rest);
    h ^= tail;
    h *= kMul;
  }
  h ^= h >> kShift;
  h *= kMul;
  h ^= h >> kShift;
  return h;
}

// 16 lower-case hex digits.
std::string hash_hex(std::uint64_t hash);

}  // namespace sidecache::hotkeys
