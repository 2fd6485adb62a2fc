// Redis Cluster placement: a key's slot (CRC16 of the key or of its {hash tag}, mod 16384,
// exactly as Redis' keyHashSlot in cluster.c) and an immutable slot -> node map built from a
// cluster's CLUSTER SLOTS answer. Asio-free. A new topology is a new ClusterSlots; nothing
// here is ever changed in place, so workers share one snapshot without locks.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sidecache::route {

inline constexpr std::uint32_t kClusterSlots = 16384;

// CRC16-CCITT (XMODEM: poly 0x1021, init 0, no reflection), Redis' crc16.c.
std::uint16_t crc16(std::string_view data);
// The part Redis Cluster hashes: between the first '{' and the first '}' after it when that is
// non-empty, else the whole key.
std::string_view cluster_hashable_part(std::string_view key);
inline std::uint16_t key_slot(std::string_view key) {
  return static_cast<std::uint16_t>(crc16(cluster_hashable_part(key)) & (kClusterSlots - 1));
}

// One range of CLUSTER SLOTS: slots first..last (inclusive) served by the primary host:port,
// with its replicas.
struct SlotRange {
  struct Replica {
    std::string host;
    std::uint16_t port = 0;
  };
  std::uint16_t first = 0;
  std::uint16_t last = 0;
  std::string host;
  std::uint16_t port = 0;
  std::vector<Replica> replicas;
};

class ClusterSlots {
 public:
  struct Node {
    std::string name;  // "host:port" (a v6 host in brackets)
    std::string host;
    std::uint16_t port = 0;
    std::vector<Node> replicas;  // of a primary, sorted by name (none listed twice)
  };
  // Nodes are the distinct primaries sorted by name, so the same cluster gives the same indexes
  // at every refresh. Slots no range covers go to node 0 (that node answers them with MOVED or
  // CLUSTERDOWN, as the cluster decides). Throws std::invalid_argument for no ranges, a range
  // with first > last or beyond 16383, or a port 0.
  ClusterSlots(std::span<const SlotRange> ranges, std::uint64_t epoch);

  std::uint32_t node_of_slot(std::uint16_t slot) const { return slot_node_[slot]; }
  std::uint32_t node_for_key(std::string_view key) const { return node_of_slot(key_slot(key)); }
  const std::vector<Node>& nodes() const { return nodes_; }
  // Index of the node named "host:port", or nodes().size() when it is not a primary here.
  std::uint32_t find(std::string_view name) const;
  std::uint64_t epoch() const { return epoch_; }
  std::uint32_t covered() const { return covered_; }  // slots some range serves
  // Same primaries, replicas and the same owner for every slot (the epoch is not compared).
  bool same_topology(const ClusterSlots& other) const;

 private:
  std::vector<Node> nodes_;
  std::array<std::uint16_t, kClusterSlots> slot_node_{};
  std::uint64_t epoch_ = 0;
  std::uint32_t covered_ = 0;
};

// "host:port" of a node as ClusterSlots names it.
std::string cluster_node_name(std::string_view host, std::uint16_t port);

// A redirect error from a cluster node: "MOVED 3999 127.0.0.1:6381" / "ASK 3999 host:port"
// (the error text without '-' and CRLF). False when `error` is neither.
struct Redirect {
  enum class Kind { kMoved, kAsk };
  Kind kind = Kind::kMoved;
  std::uint16_t slot = 0;
  std::string_view target;  // "host:port", a view into `error`
};
bool parse_redirect(std::string_view error, Redirect& out);

// A reply (RESP bytes) to the first command of a session pinned to one cluster node (WATCH, a
// transaction's first queued command, a blocking command, SSUBSCRIBE): is it a redirect the
// session follows to another node? MOVED while fewer than `max_redirects` were followed; ASK
// too when `follow_ask` (the command can be sent alone after ASKING). `out` is set when true.
bool follow_pinned_redirect(std::string_view reply, std::uint32_t followed,
                            std::uint32_t max_redirects, bool follow_ask, Redirect& out);

}  // namespace sidecache::route
