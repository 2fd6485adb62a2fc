// MD5 written from RFC 1321 (section 3): 64 steps over 16 little-endian words per 64-byte block,
// four rounds with their auxiliary functions, per-step shifts and sine-derived constants.
#include "route/md5.hpp"

#include <cstring>

namespace sidecache::route {
namespace {

// T[i] = floor(2^32 * |sin(i + 1)|), RFC 1321 section 3.4.
constexpr std::array<std::uint32_t, 64> kSine{
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

// Left-rotation amounts: four per round, repeated four times within the round.
constexpr std::array<unsigned, 16> kShift{7, 12, 17, 22, 5, 9,  14, 20,
                                          4, 11, 16, 23, 6, 10, 15, 21};

constexpr std::uint32_t rotl(std::uint32_t x, unsigned s) { return (x << s) | (x >> (32 - s)); }

inline std::uint32_t load_le32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

struct State {
  std::uint32_t a = 0x67452301;
  std::uint32_t b = 0xefcdab89;
  std::uint32_t c = 0x98badcfe;
  std::uint32_t d = 0x10325476;

  void block(const unsigned char* p) {
    std::uint32_t m[16];
    for (unsigned i = 0; i < 16; ++i) m[i] = load_le32(p + 4 * i);
    std::uint32_t aa = a, bb = b, cc = c, dd = d;
    // One step: mix f and message word m[g] into aa, rotate, then rename the registers.
    auto step = [&](std::uint32_t f, unsigned i, unsigned g) {
      const std::uint32_t next = bb + rotl(aa + f + kSine[i] + m[g], kShift[(i / 16) * 4 + i % 4]);
      aa = dd;
      dd = cc;
      cc = bb;
      bb = next;
    };
    // Four rounds with their auxiliary functions F, G, H, I and message orders (RFC 3.4).
#pragma GCC unroll 16
    for (unsigned i = 0; i < 16; ++i) step((bb & cc) | (~bb & dd), i, i);
#pragma GCC unroll 16
    for (unsigned i = 16; i < 32; ++i) step((bb & dd) | (cc & ~dd), i, (5 * i + 1) % 16);
#pragma GCC unroll 16
    for (unsigned i = 32; i < 48; ++i) step(bb ^ cc ^ dd, i, (3 * i + 5) % 16);
#pragma GCC unroll 16
    for (unsigned i = 48; i < 64; ++i) step(cc ^ (bb | ~dd), i, (7 * i) % 16);
    a += aa;
    b += bb;
    c += cc;
    d += dd;
  }
};

inline void store_le32(std::uint8_t* out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

}  // namespace

Md5Digest md5_digest(std::string_view data) {
  State state;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t left = data.size();
  for (; left >= 64; left -= 64, p += 64) state.block(p);

  // Padding: 0x80, zeros up to 56 mod 64, then the bit length as a little-endian 64-bit value.
  unsigned char tail[128] = {};
  if (left > 0) std::memcpy(tail, p, left);
  tail[left] = 0x80;
  const std::size_t tail_len = left < 56 ? 64 : 128;
  const std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
  for (int i = 0; i < 8; ++i) tail[tail_len - 8 + i] = static_cast<unsigned char>(bits >> (8 * i));
  state.block(tail);
  if (tail_len == 128) state.block(tail + 64);

  Md5Digest out;
  store_le32(out.data(), state.a);
  store_le32(out.data() + 4, state.b);
  store_le32(out.data() + 8, state.c);
  store_le32(out.data() + 12, state.d);
  return out;
}

}  // namespace sidecache::route
