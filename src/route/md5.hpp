// MD5 (RFC 1321) for key placement: ketama point layout and the "md5" key hash. Internal to
// src/route; not a security primitive. One-shot, allocation-free, fast for short keys.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace sidecache::route {

using Md5Digest = std::array<std::uint8_t, 16>;

Md5Digest md5_digest(std::string_view data);

// The 32-bit little-endian word at digest bytes [4*word, 4*word + 4) (twemproxy's byte order).
inline std::uint32_t md5_word(const Md5Digest& digest, unsigned word) {
  const std::uint8_t* p = digest.data() + 4 * word;
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

}  // namespace sidecache::route
