#include <array>
#include <utility>

#include "route/router.hpp"

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

// hash_key() and the individual hash functions: see below (twemproxy-compatible).

}  // namespace sidecache::route
