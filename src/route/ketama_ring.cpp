// Ketama continuum compatible with twemproxy 0.5 (distribution: ketama, no auto_eject_hosts):
// each node gets ketama_point_count() points; point block i of node N is the MD5 digest of the
// text "<N.name>-<i>" (i from 0), read as four little-endian 32-bit words, each one point.
// Points are sorted by value; a hash maps to the first point whose value is >= the hash,
// wrapping to the first point past the end.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "route/ketama_ring.hpp"
#include "route/md5.hpp"

namespace sidecache::route {
namespace {

constexpr std::uint32_t kPointsPerServer = 160;
constexpr std::uint32_t kPointsPerDigest = 4;

}  // namespace

std::string default_node_name(std::string_view host, std::uint16_t port) {
  // twemproxy (nc_conf.c, server without a name): the hashed name is the "host:port" text of the
  // server line, except that port 11211 is left out ("host") for libmemcached compatibility.
  if (port == kKetamaDefaultPort) return std::string(host);
  std::string name;
  name.reserve(host.size() + 6);
  name.append(host).append(":").append(std::to_string(port));
  return name;
}

std::uint32_t ketama_point_count(std::uint32_t weight, std::uint32_t total_weight,
                                 std::uint32_t nodes) {
  // Same operations and precisions as twemproxy: float share, float products, the 1e-10 nudge
  // added in double and rounded back to float, then floorf; x86-64 evaluates float in float.
  const float share = static_cast<float>(weight) / static_cast<float>(total_weight);
  float scaled = share * static_cast<float>(kPointsPerServer);
  scaled = scaled / static_cast<float>(kPointsPerDigest);
  scaled = scaled * static_cast<float>(nodes);
  const auto nudged = static_cast<float>(static_cast<double>(scaled) + 0.0000000001);
  return static_cast<std::uint32_t>(std::floor(nudged) * static_cast<float>(kPointsPerDigest));
}

KetamaRing::KetamaRing(std::span<const RingNode> nodes) {
  if (nodes.empty()) throw std::invalid_argument("ketama ring needs at least one node");
  std::uint32_t total_weight = 0;
  for (const auto& node : nodes) {
    if (node.weight == 0)
      throw std::invalid_argument("ketama node '" + node.name + "' has weight 0");
    total_weight += node.weight;
  }
  const auto count = static_cast<std::uint32_t>(nodes.size());

  std::string host;
  for (const auto& node : nodes) {
    const std::uint32_t blocks =
        ketama_point_count(node.weight, total_weight, count) / kPointsPerDigest;
    points_.reserve(points_.size() + blocks * kPointsPerDigest);
    for (std::uint32_t i = 0; i < blocks; ++i) {
      host.assign(node.name).append("-").append(std::to_string(i));
      const Md5Digest digest = md5_digest(host);
      for (unsigned word = 0; word < kPointsPerDigest; ++word) {
        points_.push_back(Point{md5_word(digest, word), node.id});
      }
    }
  }
  if (points_.empty()) throw std::invalid_argument("ketama ring has no points");
  // Stable: equal values stay in node order, as glibc's qsort (a merge sort) leaves them.
  std::stable_sort(points_.begin(), points_.end(),
                   [](const Point& a, const Point& b) { return a.value < b.value; });
}

std::uint32_t KetamaRing::node_for_hash(std::uint32_t hash) const {
  auto it = std::lower_bound(points_.begin(), points_.end(), hash,
                             [](const Point& p, std::uint32_t h) { return p.value < h; });
  if (it == points_.end()) it = points_.begin();
  return it->id;
}

Router::Router(HashKind hash, HashTag tag, std::span<const RingNode> nodes)
    : hash_(hash), tag_(tag), ring_(nodes) {}

}  // namespace sidecache::route
