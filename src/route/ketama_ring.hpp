// Key -> node placement: a ketama continuum over named, weighted nodes laid out as twemproxy
// 0.5 lays it out, and the Router that places a key on it (hash tag, hash, ring). Asio-free.
#pragma once

#include <cstdint>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "route/hash.hpp"

namespace sidecache::route {

// The name a server is hashed by when the config gives none, as twemproxy's nc_conf.c: the
// "host:port" text of the server line ("127.0.0.1:6379"), except that for port 11211 the port is
// left out ("127.0.0.1"), for libmemcached compatibility. `host` is the host text as written in
// the config (not resolved). twemproxy copies the port text as written, so a port spelled with
// leading zeros ("06379") would keep them there; this function prints the port in decimal.
inline constexpr std::uint16_t kKetamaDefaultPort = 11211;
std::string default_node_name(std::string_view host, std::uint16_t port);

// twemproxy formats "<name>-<i>" into an 86-byte buffer and hashes the untruncated length, so it
// reads past its buffer for longer names: names longer than this cannot be placed compatibly.
inline constexpr std::size_t kMaxCompatibleNodeName = 80;

struct RingNode {
  std::string name;  // hashed to place the node's points (not its address)
  std::uint32_t weight = 1;
  std::uint32_t id = 0;  // returned by lookups (the node's index in the pool)
};

// The ring nodes of a node list (config::PoolConfig::nodes, or anything whose elements have a
// `name` and a `weight`): ids are the list indexes. Every ring of a pool is built from this, so
// the pool, the write-behind queues and the invalidation listener place keys alike.
template <class Nodes>
std::vector<RingNode> ring_nodes(const Nodes& nodes) {
  std::vector<RingNode> out;
  out.reserve(std::size(nodes));
  std::uint32_t id = 0;
  for (const auto& n : nodes) out.push_back({n.name, n.weight, id++});
  return out;
}

// Points a node gets, as twemproxy computes them in single precision:
// floor(weight / total_weight * 160 / 4 * nodes + 1e-10) * 4 (160 each at equal weights).
std::uint32_t ketama_point_count(std::uint32_t weight, std::uint32_t total_weight,
                                 std::uint32_t nodes);

// Ketama continuum laid out exactly as twemproxy's (160 points per server, weighted, md5 of
// "<name>-<i>", four points per digest), so keys land on the same node as with nutcracker.
// A lookup is a binary search over one flat vector: no allocation.
class KetamaRing {
 public:
  // Throws std::invalid_argument for no nodes or a zero weight.
  explicit KetamaRing(std::span<const RingNode> nodes);
  std::uint32_t node_for_hash(std::uint32_t hash) const;  // a RingNode::id
  std::size_t points() const { return points_.size(); }
  struct Point {
    std::uint32_t value;
    std::uint32_t id;
  };
  // The continuum, sorted by value (ties in node order), for tests and diagnostics.
  std::span<const Point> continuum() const { return points_; }

 private:
  std::vector<Point> points_;
};

class Router {
 public:
  Router(HashKind hash, HashTag tag, std::span<const RingNode> nodes);
  // As twemproxy's server_pool_idx: hash tag first, an empty key hashes to 0.
  std::uint32_t node_for_key(std::string_view key) const {
    const std::string_view part = hashable_part(key, tag_);
    return ring_.node_for_hash(part.empty() ? 0 : hash_key(hash_, part));
  }
  const KetamaRing& ring() const { return ring_; }

 private:
  HashKind hash_;
  HashTag tag_;
  KetamaRing ring_;
};

}  // namespace sidecache::route
