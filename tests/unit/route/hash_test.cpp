// Hash functions: exact values from a running nutcracker 0.5.0, MD5 against RFC 1321 and OpenSSL,
// hash tags and the default node name.
#include <openssl/evp.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "route/md5.hpp"
#include "route/ketama_ring.hpp"

using namespace sidecache::route;

namespace {

// Golden values produced by `scripts/twemproxy_golden.py hashes` (nutcracker 0.5.0+dfsg-2,
// Debian 12): the script recovers the exact 32-bit hash nutcracker computes for a key from
// modula pools (bits 0..20 from power-of-two pools, the rest from hash % 2053, joined by CRT).
// They were not computed by our implementation.
const std::vector<std::string> kGoldenKeys{
    std::string("a", 1),
    std::string("foo", 3),
    std::string("hello world", 11),
    std::string("user:1000", 9),
    std::string("{user1000}.following", 20),
    std::string("0123456789abcdefXYZ", 19),
    std::string("\x80", 1),
    std::string("ab\xe9", 3),
    std::string("\xff\xfe\xfd\xfc\xfb", 5),
    std::string("caf\xc3\xa9-\xe6\x97\xa5\xe6\x9c\xac", 12),
    std::string("\x00\x01\x0d\x0a key", 8),
    std::string("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                "xxxxxxxxxxxxxxxxxx",
                100),
};
const std::vector<std::pair<std::string_view, std::vector<std::uint32_t>>> kGoldenHashes{
    {"fnv1a_64",
     {0x8601ec8c, 0xfed9d577, 0x023cd2e7, 0xae7b4289, 0x31c09a76, 0x1c8cfe38, 0x79fdec5f,
      0xfabde399, 0xfb325a9e, 0xc5615a2c, 0x6d657f0e, 0xec411035}},
    {"fnv1_64",
     {0x8601b7be, 0x6ba13533, 0xb1910e6f, 0xd39e3d21, 0xb60ca1a8, 0x4cb31c82, 0x79fe485f,
      0x94505241, 0x8e713e00, 0xb087f162, 0xb29debc0, 0x11b0ff95}},
    {"fnv1a_32",
     {0xe40c292c, 0xa9f37ed7, 0xd58b3fa7, 0x507c1d89, 0x25e77276, 0x7df3aa98, 0x04f3b29f,
      0xb1b7c519, 0x39e74fbe, 0xd53f040c, 0xd0e8320e, 0xac246ad5}},
    {"fnv1_32",
     {0x050c5d7e, 0x408f5e13, 0x548da96f, 0xa6affca1, 0xf8a53b08, 0x39872ac2, 0xfaf3a29f,
      0xbc63d0c1, 0x4392d500, 0x7477c162, 0x4e8bbf20, 0x35004f35}},
    {"md5",
     {0xb975c10c, 0xdb18bdac, 0xbb3bb65e, 0x2e986207, 0x73813d21, 0x173fd4c6, 0x7edd398d,
      0x8c72c1c8, 0x4ac57bfb, 0x754731c3, 0x59490872, 0xec63d5ae}},
    {"murmur",
     {0x4b41757c, 0xc4e0338f, 0x5e19153b, 0x8e24aec7, 0xa6e2c735, 0x72638a5c, 0x90556245,
      0x6baf059f, 0xc90783ba, 0x159150ff, 0xd046294a, 0x4b280555}},
    {"crc16",
     {0x00007c87, 0x0c3caf96, 0xf2063be4, 0xe1644671, 0xb3926fba, 0x023053ec, 0x00009188,
      0x7c74ad14, 0xc1f8ce63, 0xeb8904c7, 0x8f61f739, 0xc9e78856}},
    {"crc32",
     {0x000068b7, 0x00000c73, 0x00000d4a, 0x00001f74, 0x0000760c, 0x000053b1, 0x00003fba,
      0x00003849, 0x00004585, 0x000005ed, 0x00006098, 0x00005e0e}},
    {"crc32a",
     {0xe8b7be43, 0x8c736521, 0x0d4a1185, 0x9f7417e3, 0x760c43ef, 0xd3b14458, 0x3fba6cad,
      0x38492bfc, 0x458534a3, 0x85edb241, 0xe0980227, 0x5e0e5d8f}},
    {"one_at_a_time",
     {0xca2e9442, 0x238678dd, 0x3e4a5a57, 0xb563b74f, 0x601d07b4, 0xe636b461, 0xc31d4e27,
      0x7c6c3def, 0xa711599b, 0x295f56ce, 0xee8416d9, 0x1ea61dbc}},
    {"jenkins",
     {0xe0a38690, 0x99f84f99, 0x153343fb, 0x048c4d84, 0xa8ff9d55, 0x37606d62, 0xb16fde48,
      0x8927b2b4, 0x153177c4, 0x7617eb67, 0x2c9c7ebe, 0x59f67f48}},
    {"hsieh",
     {0x93642e87, 0x76d4d427, 0x4f799873, 0xddec1969, 0x01de784b, 0x565cf0e3, 0xd6f4cb32,
      0x125794e5, 0x0f2fe502, 0xa7e87ebe, 0x23463d86, 0x1d22584c}},
};

std::string hex(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

}  // namespace

TEST_CASE("hash kind names round-trip", "[hash]") {
  const std::vector<std::string_view> names{"fnv1a_64", "fnv1_64",       "fnv1a_32", "fnv1_32",
                                            "md5",      "murmur",        "crc16",    "crc32",
                                            "crc32a",   "one_at_a_time", "jenkins",  "hsieh"};
  for (const auto name : names) {
    const auto kind = parse_hash_kind(name);
    REQUIRE(kind.has_value());
    CHECK(hash_kind_name(*kind) == name);
  }
  CHECK_FALSE(parse_hash_kind("FNV1A_64").has_value());
  CHECK_FALSE(parse_hash_kind("crc64").has_value());
  CHECK_FALSE(parse_hash_kind("").has_value());
}

TEST_CASE("every hash kind matches nutcracker 0.5.0 bit for bit", "[hash][golden]") {
  for (const auto& [name, values] : kGoldenHashes) {
    const auto kind = parse_hash_kind(name);
    REQUIRE(kind.has_value());
    REQUIRE(values.size() == kGoldenKeys.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      INFO(name << " key #" << i);
      CHECK(hex(hash_key(*kind, kGoldenKeys[i])) == hex(values[i]));
    }
  }
}

TEST_CASE("hash of the empty key follows each function's definition", "[hash]") {
  // nutcracker never hashes an empty key (it uses 0, see Router), so these come from the
  // functions' definitions: the start value after no input and the final mixing.
  CHECK(hash_key(HashKind::kFnv1a64, "") == 0x84222325u);
  CHECK(hash_key(HashKind::kFnv164, "") == 0x84222325u);
  CHECK(hash_key(HashKind::kFnv1a32, "") == 0x811c9dc5u);
  CHECK(hash_key(HashKind::kFnv132, "") == 0x811c9dc5u);
  CHECK(hash_key(HashKind::kMd5, "") == 0xd98c1dd4u);  // d41d8cd9..., little-endian
  CHECK(hash_key(HashKind::kMurmur, "") == 0u);
  CHECK(hash_key(HashKind::kCrc16, "") == 0u);
  CHECK(hash_key(HashKind::kCrc32, "") == 0u);
  CHECK(hash_key(HashKind::kCrc32a, "") == 0u);
  CHECK(hash_key(HashKind::kOneAtATime, "") == 0u);
  CHECK(hash_key(HashKind::kJenkins, "") == 0xdeadbefcu);  // 0xdeadbeef + 0 + 13, no mixing
  CHECK(hash_key(HashKind::kHsieh, "") == 0u);
}

TEST_CASE("hash quirks kept from twemproxy", "[hash]") {
  // Bytes >= 0x80 enter fnv as sign-extended words: "\x80" differs from a zero-extended FNV.
  const std::uint32_t zero_extended = (0x84222325u ^ 0x80u) * 0x1b3u;
  CHECK(hash_key(HashKind::kFnv1a64, "\x80") != zero_extended);
  CHECK(hash_key(HashKind::kFnv1a64, "\x80") == ((0x84222325u ^ 0xffffff80u) * 0x1b3u));
  // crc32 is 15 bits wide; crc32a is the standard CRC-32 ("123456789" check value).
  CHECK(hash_key(HashKind::kCrc32a, "123456789") == 0xcbf43926u);
  CHECK(hash_key(HashKind::kCrc32, "123456789") == ((0xcbf43926u >> 16) & 0x7fff));
  // crc16: low 16 bits are CRC-16/XMODEM ("123456789" check value 0x31c3); nutcracker keeps
  // unmasked leftovers above them.
  CHECK((hash_key(HashKind::kCrc16, "123456789") & 0xffff) == 0x31c3u);
  // murmur's seed depends on the length: keys differing only by trailing NULs differ.
  CHECK(hash_key(HashKind::kMurmur, std::string("ab\0", 3)) != hash_key(HashKind::kMurmur, "ab"));
}

TEST_CASE("md5 matches RFC 1321 test suite and OpenSSL", "[md5]") {
  const std::vector<std::pair<std::string, std::string>> rfc{
      {"", "d41d8cd98f00b204e9800998ecf8427e"},
      {"a", "0cc175b9c0f1b6a831c399e269772661"},
      {"abc", "900150983cd24fb0d6963f7d28e17f72"},
      {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
      {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
      {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
       "d174ab98d277d9f5a5611c2c9f419d9f"},
      {std::string("12345678901234567890") + "12345678901234567890" + "12345678901234567890" +
           "12345678901234567890",
       "57edf4a22be3c955ac49da2e2107b67a"},
  };
  for (const auto& [input, want] : rfc) {
    const Md5Digest d = md5_digest(input);
    std::string got;
    for (const auto byte : d) {
      char buf[3];
      std::snprintf(buf, sizeof buf, "%02x", byte);
      got += buf;
    }
    CHECK(got == want);
  }
  // Every length across the padding boundaries (55, 56, 63, 64, 119, 120...) against OpenSSL.
  std::string data;
  for (int len = 0; len < 300; ++len) {
    unsigned char want[EVP_MAX_MD_SIZE];
    unsigned int want_len = 0;
    REQUIRE(EVP_Digest(data.data(), data.size(), want, &want_len, EVP_md5(), nullptr) == 1);
    REQUIRE(want_len == 16);
    const Md5Digest got = md5_digest(data);
    INFO("length " << len);
    CHECK(std::equal(got.begin(), got.end(), want));
    data.push_back(static_cast<char>((len * 131 + 7) & 0xff));
  }
}

TEST_CASE("hash tag: the part between open and close, else the whole key", "[hashtag]") {
  const HashTag braces{};
  CHECK(hashable_part("{user1000}.following", braces) == "user1000");
  CHECK(hashable_part("foo{bar}baz", braces) == "bar");
  CHECK(hashable_part("a{b}c{d}e", braces) == "b");      // first open, first close after it
  CHECK(hashable_part("{{x}}", braces) == "{x");         // close searched after the open
  CHECK(hashable_part("{}", braces) == "{}");            // nothing between: whole key
  CHECK(hashable_part("x{}y{z}", braces) == "x{}y{z}");  // first open decides, even if empty
  CHECK(hashable_part("{abc", braces) == "{abc");
  CHECK(hashable_part("abc}", braces) == "abc}");
  CHECK(hashable_part("}a{b}", braces) == "b");
  CHECK(hashable_part("", braces) == "");
  CHECK(hashable_part("plain", braces) == "plain");

  const HashTag off{.enabled = false};
  CHECK(hashable_part("{user1000}.following", off) == "{user1000}.following");

  const HashTag dollars{.enabled = true, .open = '$', .close = '$'};
  CHECK(hashable_part("a$tag$b", dollars) == "tag");
  CHECK(hashable_part("a$$b", dollars) == "a$$b");
}

TEST_CASE("default node name is host:port, port 11211 left out", "[name]") {
  CHECK(default_node_name("127.0.0.1", 6379) == "127.0.0.1:6379");
  CHECK(default_node_name("redis-a.internal", 7000) == "redis-a.internal:7000");
  CHECK(default_node_name("127.0.0.1", 11211) == "127.0.0.1");
}
