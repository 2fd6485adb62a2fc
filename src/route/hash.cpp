// Key hashing compatible with twemproxy (nutcracker) 0.5.0, written from the behaviour of its
// hashkit: every function returns 32 bits; several read key bytes through a signed `char`, so a
// byte >= 0x80 enters as a sign-extended 32-bit value (0xffffff80..0xffffffff). Checked against a
// running nutcracker by scripts/twemproxy_golden.py and tests/integration/test_twemproxy_compat.py.
#include <array>
#include <cstring>
#include <utility>

#include "route/hash.hpp"
#include "route/md5.hpp"

namespace sidecache::route {
namespace {

constexpr std::array<std::pair<std::string_view, HashKind>, 12> kHashNames{{
    {"fnv1a_64", HashKind::kFnv1a64},
    {"fnv1_64", HashKind::kFnv164},
    {"fnv1a_32", HashKind::kFnv1a32},
    {"fnv1_32", HashKind::kFnv132},
    {"md5", HashKind::kMd5},
    {"murmur", HashKind::kMurmur},
    {"crc16", HashKind::kCrc16},
    {"crc32", HashKind::kCrc32},
    {"crc32a", HashKind::kCrc32a},
    {"one_at_a_time", HashKind::kOneAtATime},
    {"jenkins", HashKind::kJenkins},
    {"hsieh", HashKind::kHsieh},
}};

// A key byte as twemproxy's `(uint32_t)key[i]` sees it: `char` is signed on x86-64, so bytes
// >= 0x80 are sign-extended.
inline std::uint32_t sx(char c) { return static_cast<std::uint32_t>(static_cast<std::int32_t>(c)); }
inline std::uint32_t ux(char c) { return static_cast<unsigned char>(c); }

inline std::uint32_t load_le32(const char* p) {
  return ux(p[0]) | ux(p[1]) << 8 | ux(p[2]) << 16 | ux(p[3]) << 24;
}

// --- FNV. twemproxy's fnv1a_64 keeps a 32-bit state: the 64-bit offset basis and prime cut to
// their low 32 bits (0x84222325, 0x1b3). fnv1_64 runs in 64 bits and returns the low 32, which
// depend only on the low 32 bits of the operands: the same 32-bit arithmetic in effect.
constexpr std::uint32_t kFnv64BasisLow = 0x84222325u;  // low half of 0xcbf29ce484222325
constexpr std::uint32_t kFnv64PrimeLow = 0x000001b3u;  // low half of 0x100000001b3
constexpr std::uint32_t kFnv32Basis = 2166136261u;
constexpr std::uint32_t kFnv32Prime = 16777619u;

std::uint32_t hash_fnv1a_64(std::string_view key) {
  std::uint32_t h = kFnv64BasisLow;
  for (char c : key) h = (h ^ sx(c)) * kFnv64PrimeLow;
  return h;
}

std::uint32_t hash_fnv1_64(std::string_view key) {
  std::uint32_t h = kFnv64BasisLow;
  for (char c : key) h = (h * kFnv64PrimeLow) ^ sx(c);
  return h;
}

std::uint32_t hash_fnv1a_32(std::string_view key) {
  std::uint32_t h = kFnv32Basis;
  for (char c : key) h = (h ^ sx(c)) * kFnv32Prime;
  return h;
}

std::uint32_t hash_fnv1_32(std::string_view key) {
  std::uint32_t h = kFnv32Basis;
  for (char c : key) h = (h * kFnv32Prime) ^ sx(c);
  return h;
}

// --- md5: the first four digest bytes read as a little-endian word.
std::uint32_t hash_md5(std::string_view key) { return md5_word(md5_digest(key), 0); }

// --- murmur: MurmurHash2 (m = 0x5bd1e995, r = 24), little-endian words, with twemproxy's
// length-dependent seed 0xdeadbeef * len; the state starts at seed ^ len.
std::uint32_t hash_murmur(std::string_view key) {
  constexpr std::uint32_t m = 0x5bd1e995u;
  const auto len = static_cast<std::uint32_t>(key.size());
  std::uint32_t h = (0xdeadbeefu * len) ^ len;
  const char* p = key.data();
  std::size_t left = key.size();
  for (; left >= 4; left -= 4, p += 4) {
    std::uint32_t k = load_le32(p) * m;
    k = (k ^ (k >> 24)) * m;
    h = (h * m) ^ k;
  }
  if (left > 0) {
    if (left == 3) h ^= ux(p[2]) << 16;
    if (left >= 2) h ^= ux(p[1]) << 8;
    h = (h ^ ux(p[0])) * m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h;
}

// --- CRC tables, built at compile time from the reflected polynomials.
constexpr std::array<std::uint32_t, 256> make_crc32_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t v = i;
    for (int bit = 0; bit < 8; ++bit) v = (v & 1) ? (v >> 1) ^ 0xedb88320u : v >> 1;
    t[i] = v;
  }
  return t;
}
constexpr auto kCrc32Table = make_crc32_table();

// CRC-16/XMODEM table (polynomial 0x1021, not reflected).
constexpr std::array<std::uint16_t, 256> make_crc16_table() {
  std::array<std::uint16_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t v = i << 8;
    for (int bit = 0; bit < 8; ++bit) v = (v & 0x8000) ? (v << 1) ^ 0x1021u : v << 1;
    t[i] = static_cast<std::uint16_t>(v);
  }
  return t;
}
constexpr auto kCrc16Table = make_crc16_table();

std::uint32_t crc32_state(std::string_view key) {
  std::uint32_t crc = 0xffffffffu;
  for (char c : key) crc = (crc >> 8) ^ kCrc32Table[(crc ^ ux(c)) & 0xff];
  return crc;
}

// crc32: libmemcached's variant, bits 16..30 of the standard CRC-32 (a 15-bit value).
std::uint32_t hash_crc32(std::string_view key) { return ((~crc32_state(key)) >> 16) & 0x7fff; }

// crc32a: the standard CRC-32 (IEEE 802.3, as zlib's crc32()).
std::uint32_t hash_crc32a(std::string_view key) { return ~crc32_state(key); }

// crc16: CRC-16/XMODEM steps (as Redis Cluster's), but nutcracker 0.5.0 keeps the register in 32
// bits and never masks it: each step shifts the previous bits up by 8, so the result carries
// those leftovers above bit 15. Its low 16 bits are the true CRC-16/XMODEM. (Checked against the
// running nutcracker 0.5.0: "a" -> 0x00007c87, "foo" -> 0x0c3caf96.)
std::uint32_t hash_crc16(std::string_view key) {
  std::uint32_t crc = 0;
  for (char c : key) crc = (crc << 8) ^ kCrc16Table[((crc >> 8) ^ ux(c)) & 0xff];
  return crc;
}

// --- Jenkins one-at-a-time, bytes sign-extended.
std::uint32_t hash_one_at_a_time(std::string_view key) {
  std::uint32_t h = 0;
  for (char c : key) {
    h += sx(c);
    h += h << 10;
    h ^= h >> 6;
  }
  h += h << 3;
  h ^= h >> 11;
  h += h << 15;
  return h;
}

// --- Jenkins lookup3 "hashlittle" with initval 13: 12-byte blocks of three little-endian words;
// the last 1..12 bytes are added (zero-padded) and finalised; an empty key returns the start value.
constexpr std::uint32_t rotl(std::uint32_t x, unsigned k) { return (x << k) | (x >> (32 - k)); }

inline void jenkins_mix(std::uint32_t& a, std::uint32_t& b, std::uint32_t& c) {
  a -= c, a ^= rotl(c, 4), c += b;
  b -= a, b ^= rotl(a, 6), a += c;
  c -= b, c ^= rotl(b, 8), b += a;
  a -= c, a ^= rotl(c, 16), c += b;
  b -= a, b ^= rotl(a, 19), a += c;
  c -= b, c ^= rotl(b, 4), b += a;
}

inline void jenkins_final(std::uint32_t& a, std::uint32_t& b, std::uint32_t& c) {
  c ^= b, c -= rotl(b, 14);
  a ^= c, a -= rotl(c, 11);
  b ^= a, b -= rotl(a, 25);
  c ^= b, c -= rotl(b, 16);
  a ^= c, a -= rotl(c, 4);
  b ^= a, b -= rotl(a, 14);
  c ^= b, c -= rotl(b, 24);
}

std::uint32_t hash_jenkins(std::string_view key) {
  std::uint32_t a = 0xdeadbeefu + static_cast<std::uint32_t>(key.size()) + 13u;
  std::uint32_t b = a;
  std::uint32_t c = a;
  const char* p = key.data();
  std::size_t left = key.size();
  for (; left > 12; left -= 12, p += 12) {
    a += load_le32(p);
    b += load_le32(p + 4);
    c += load_le32(p + 8);
    jenkins_mix(a, b, c);
  }
  if (left == 0) return c;
  char last[12] = {};
  std::memcpy(last, p, left);
  a += load_le32(last);
  b += load_le32(last + 4);
  c += load_le32(last + 8);
  jenkins_final(a, b, c);
  return c;
}

// --- Paul Hsieh's SuperFastHash (16-bit little-endian reads); in the 3-byte tail the third byte
// is read through a signed char (sign-extended), as in twemproxy. Empty key: 0.
inline std::uint32_t get16(const char* p) { return ux(p[0]) | ux(p[1]) << 8; }

std::uint32_t hash_hsieh(std::string_view key) {
  if (key.empty()) return 0;
  std::uint32_t h = 0;
  const char* p = key.data();
  for (std::size_t blocks = key.size() >> 2; blocks > 0; --blocks, p += 4) {
    h += get16(p);
    const std::uint32_t tmp = (get16(p + 2) << 11) ^ h;
    h = (h << 16) ^ tmp;
    h += h >> 11;
  }
  switch (key.size() & 3) {
    case 3:
      h += get16(p);
      h ^= h << 16;
      h ^= sx(p[2]) << 18;
      h += h >> 11;
      break;
    case 2:
      h += get16(p);
      h ^= h << 11;
      h += h >> 17;
      break;
    case 1:
      h += ux(p[0]);
      h ^= h << 10;
      h += h >> 1;
      break;
    default:
      break;
  }
  h ^= h << 3;
  h += h >> 5;
  h ^= h << 4;
  h += h >> 17;
  h ^= h << 25;
  h += h >> 6;
  return h;
}

}  // namespace

std::optional<HashKind> parse_hash_kind(std::string_view name) {
  for (const auto& [text, kind] : kHashNames) {
    if (text == name) return kind;
  }
  return std::nullopt;
}

std::string_view hash_kind_name(HashKind kind) {
  for (const auto& [text, k] : kHashNames) {
    if (k == kind) return text;
  }
  return "unknown";
}

std::string_view hashable_part(std::string_view key, const HashTag& tag) {
  if (!tag.enabled) return key;
  const auto open = key.find(tag.open);
  if (open == std::string_view::npos) return key;
  const auto close = key.find(tag.close, open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

std::uint32_t hash_key(HashKind kind, std::string_view key) {
  switch (kind) {
    case HashKind::kFnv1a64:
      return hash_fnv1a_64(key);
    case HashKind::kFnv164:
      return hash_fnv1_64(key);
    case HashKind::kFnv1a32:
      return hash_fnv1a_32(key);
    case HashKind::kFnv132:
      return hash_fnv1_32(key);
    case HashKind::kMd5:
      return hash_md5(key);
    case HashKind::kMurmur:
      return hash_murmur(key);
    case HashKind::kCrc16:
      return hash_crc16(key);
    case HashKind::kCrc32:
      return hash_crc32(key);
    case HashKind::kCrc32a:
      return hash_crc32a(key);
    case HashKind::kOneAtATime:
      return hash_one_at_a_time(key);
    case HashKind::kJenkins:
      return hash_jenkins(key);
    case HashKind::kHsieh:
      return hash_hsieh(key);
  }
  return 0;
}

}  // namespace sidecache::route
