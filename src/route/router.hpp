// Key -> node placement: hash functions and hash tags compatible with twemproxy 0.5, and a
// ketama continuum over named, weighted nodes. Asio-free.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sidecache::route {

// twemproxy's key hash functions (32-bit results, bit-compatible with nutcracker 0.5).
enum class HashKind : std::uint8_t {
  kFnv1a64, kFnv164, kFnv1a32, kFnv132, kMd5, kMurmur, kCrc16, kCrc32, kCrc32a,
  kOneAtATime, kJenkins, kHsieh,
};
std::optional<HashKind> parse_hash_kind(std::string_view name);  // "fnv1a_64", "murmur", ...
std::string_view hash_kind_name(HashKind kind);
std::uint32_t hash_key(HashKind kind, std::string_view key);

// Hash tag: when enabled and the key holds open...close with at least one byte between, only
// that part is hashed (as twemproxy's hash_tag and Redis Cluster's {...}).
struct HashTag {
  bool enabled = true;
  char open = '{';
  char close = '}';
};
std::string_view hashable_part(std::string_view key, const HashTag& tag);

struct RingNode {
  std::string name;       // hashed to place the node's points (not its address)
  std::uint32_t weight = 1;
  std::uint32_t id = 0;   // returned by lookups (the node's index in the pool)
};

// Ketama continuum laid out exactly as twemproxy's (160 points per server, weighted, md5 of
// "<name>-<i>", four points per digest), so keys land on the same node as with nutcracker.
class KetamaRing {
 public:
  // Throws std::invalid_argument for no nodes or a zero weight.
  explicit KetamaRing(std::span<const RingNode> nodes);
  std::uint32_t node_for_hash(std::uint32_t hash) const;  // a RingNode::id
  std::size_t points() const { return points_.size(); }

 private:
  struct Point {
    std::uint32_t value;
    std::uint32_t id;
  };
  std::vector<Point> points_;
};

class Router {
 public:
  Router(HashKind hash, HashTag tag, std::span<const RingNode> nodes);
  std::uint32_t node_for_key(std::string_view key) const {
    return ring_.node_for_hash(hash_key(hash_, hashable_part(key, tag_)));
  }

 private:
  HashKind hash_;
  HashTag tag_;
  KetamaRing ring_;
};

}  // namespace sidecache::route
