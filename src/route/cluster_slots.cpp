#include "route/cluster_slots.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace sidecache::route {
namespace {

constexpr std::array<std::uint16_t, 256> make_crc16_table() {
  std::array<std::uint16_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i << 8;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1;
    table[i] = static_cast<std::uint16_t>(crc);
  }
  return table;
}
constexpr auto kCrc16Table = make_crc16_table();

}  // namespace

std::uint16_t crc16(std::string_view data) {
  std::uint16_t crc = 0;
  for (const char c : data) {
    const auto byte = static_cast<std::uint8_t>(c);
    crc = static_cast<std::uint16_t>((crc << 8) ^ kCrc16Table[((crc >> 8) ^ byte) & 0xff]);
  }
  return crc;
}

std::string_view cluster_hashable_part(std::string_view key) {
  const auto open = key.find('{');
  if (open == std::string_view::npos) return key;
  const auto close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

std::string cluster_node_name(std::string_view host, std::uint16_t port) {
  std::string name;
  if (host.find(':') != std::string_view::npos) {
    name.append("[").append(host).append("]");
  } else {
    name.append(host);
  }
  return name + ":" + std::to_string(port);
}

ClusterSlots::ClusterSlots(std::span<const SlotRange> ranges, std::uint64_t epoch) : epoch_(epoch) {
  if (ranges.empty()) throw std::invalid_argument("the cluster serves no slots");
  for (const auto& r : ranges) {
    if (r.first > r.last || r.last >= kClusterSlots) {
      throw std::invalid_argument("bad slot range " + std::to_string(r.first) + "-" +
                                  std::to_string(r.last));
    }
    if (r.port == 0 || r.host.empty()) throw std::invalid_argument("a slot range has no address");
    const auto name = cluster_node_name(r.host, r.port);
    auto node =
        std::find_if(nodes_.begin(), nodes_.end(), [&](const Node& n) { return n.name == name; });
    if (node == nodes_.end()) node = nodes_.insert(nodes_.end(), Node{name, r.host, r.port, {}});
    for (const auto& replica : r.replicas) {
      if (replica.port == 0 || replica.host.empty()) continue;
      const auto replica_name = cluster_node_name(replica.host, replica.port);
      auto& list = node->replicas;
      if (std::none_of(list.begin(), list.end(),
                       [&](const Node& n) { return n.name == replica_name; })) {
        list.push_back({replica_name, replica.host, replica.port, {}});
      }
    }
  }
  const auto by_name = [](const Node& a, const Node& b) { return a.name < b.name; };
  std::sort(nodes_.begin(), nodes_.end(), by_name);
  for (auto& n : nodes_) std::sort(n.replicas.begin(), n.replicas.end(), by_name);
  std::vector<bool> seen(kClusterSlots, false);
  for (const auto& r : ranges) {
    const auto node = static_cast<std::uint16_t>(find(cluster_node_name(r.host, r.port)));
    for (std::uint32_t s = r.first; s <= r.last; ++s) {
      slot_node_[s] = node;
      if (!seen[s]) ++covered_;
      seen[s] = true;
    }
  }
}

std::uint32_t ClusterSlots::find(std::string_view name) const {
  for (std::uint32_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].name == name) return i;
  }
  return static_cast<std::uint32_t>(nodes_.size());
}

bool ClusterSlots::same_topology(const ClusterSlots& other) const {
  if (nodes_.size() != other.nodes_.size() || slot_node_ != other.slot_node_) return false;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const auto& a = nodes_[i];
    const auto& b = other.nodes_[i];
    if (a.name != b.name || a.replicas.size() != b.replicas.size()) return false;
    for (std::size_t r = 0; r < a.replicas.size(); ++r) {
      if (a.replicas[r].name != b.replicas[r].name) return false;
    }
  }
  return true;
}

bool parse_redirect(std::string_view error, Redirect& out) {
  if (error.starts_with("MOVED ")) {
    out.kind = Redirect::Kind::kMoved;
    error.remove_prefix(6);
  } else if (error.starts_with("ASK ")) {
    out.kind = Redirect::Kind::kAsk;
    error.remove_prefix(4);
  } else {
    return false;
  }
  const auto space = error.find(' ');
  if (space == std::string_view::npos) return false;
  unsigned slot = 0;
  const auto [end, ec] = std::from_chars(error.data(), error.data() + space, slot);
  if (ec != std::errc() || end != error.data() + space || slot >= kClusterSlots) return false;
  out.slot = static_cast<std::uint16_t>(slot);
  out.target = error.substr(space + 1);
  while (!out.target.empty() && (out.target.back() == '\r' || out.target.back() == '\n')) {
    out.target.remove_suffix(1);
  }
  return !out.target.empty() && out.target.find(':') != std::string_view::npos;
}

bool follow_pinned_redirect(std::string_view reply, std::uint32_t followed,
                            std::uint32_t max_redirects, bool follow_ask, Redirect& out) {
  if (reply.size() < 2 || reply[0] != '-' || followed >= max_redirects) return false;
  reply.remove_prefix(1);
  if (!parse_redirect(reply, out)) return false;
  return out.kind == Redirect::Kind::kMoved || follow_ask;
}

}  // namespace sidecache::route
