#include "backend/cluster_topology.hpp"

#include <stdexcept>

#include "backend/node_stream.hpp"

namespace sidecache::backend {
namespace {

std::uint16_t slot_number(const Reply& r) {
  if (r.type != Reply::Type::kInteger || r.integer < 0 || r.integer >= route::kClusterSlots) {
    throw std::invalid_argument("CLUSTER SLOTS: a slot is not a number in 0..16383");
  }
  return static_cast<std::uint16_t>(r.integer);
}

// A node's host in CLUSTER SLOTS; empty or "?" (the node does not know its address): the
// host the reply came from.
std::string node_host(const Reply& node, const std::string& asked_host) {
  const auto& host = node.items[0].str;
  return host.empty() || host == "?" ? asked_host : host;
}

}  // namespace

std::vector<route::SlotRange> parse_cluster_slots(const Reply& reply,
                                                  const std::string& asked_host) {
  if (reply.type != Reply::Type::kArray) {
    throw std::invalid_argument(reply.is_error() ? "CLUSTER SLOTS: " + reply.str
                                                 : "CLUSTER SLOTS: not an array");
  }
  std::vector<route::SlotRange> ranges;
  for (const auto& item : reply.items) {
    // [first, last, [host, port, id, ...], replicas...]
    if (item.type != Reply::Type::kArray || item.items.size() < 3) {
      throw std::invalid_argument("CLUSTER SLOTS: a range is not [first, last, primary, ...]");
    }
    const auto& primary = item.items[2];
    if (primary.type != Reply::Type::kArray || primary.items.size() < 2 ||
        primary.items[0].type != Reply::Type::kString ||
        primary.items[1].type != Reply::Type::kInteger || primary.items[1].integer <= 0 ||
        primary.items[1].integer > 65535) {
      throw std::invalid_argument("CLUSTER SLOTS: a primary is not [host, port, ...]");
    }
    route::SlotRange range;
    range.first = slot_number(item.items[0]);
    range.last = slot_number(item.items[1]);
    range.host = node_host(primary, asked_host);
    range.port = static_cast<std::uint16_t>(primary.items[1].integer);
    for (std::size_t i = 3; i < item.items.size(); ++i) {
      const auto& replica = item.items[i];
      // A replica of the shape [host, port, ...]; others (no port yet, ...) are skipped.
      if (replica.type != Reply::Type::kArray || replica.items.size() < 2 ||
          replica.items[0].type != Reply::Type::kString ||
          replica.items[1].type != Reply::Type::kInteger || replica.items[1].integer <= 0 ||
          replica.items[1].integer > 65535) {
        continue;
      }
      range.replicas.push_back(
          {node_host(replica, asked_host), static_cast<std::uint16_t>(replica.items[1].integer)});
    }
    ranges.push_back(std::move(range));
  }
  return ranges;
}

std::shared_ptr<const route::ClusterSlots> fetch_cluster_slots(
    const config::PoolConfig& pool, std::span<const config::NodeConfig> candidates,
    std::uint64_t epoch, std::string& error) {
  std::vector<const config::NodeConfig*> order;
  for (const auto& n : candidates) order.push_back(&n);
  for (const auto& n : pool.seeds) order.push_back(&n);
  error.clear();
  const std::string args[] = {"CLUSTER", "SLOTS"};
  for (const auto* node : order) {
    const auto name = config::format_endpoint(node->address);
    // Pool-wide credentials and TLS: a cluster pool has no per-node ones, so node 0's are them.
    auto security = make_node_security(pool, 0);
    BlockingClient client(NodeAddress{name, node->address.host, node->address.port, security},
                          pool.connect_timeout);
    if (!client.connect()) {
      error += (error.empty() ? "" : "; ") + name + ": " + client.error();
      continue;
    }
    const auto reply = client.command(args);
    if (!reply) {
      error += (error.empty() ? "" : "; ") + name + ": " + client.error();
      continue;
    }
    try {
      const auto ranges = parse_cluster_slots(*reply, node->address.host);
      return std::make_shared<const route::ClusterSlots>(ranges, epoch);
    } catch (const std::invalid_argument& e) {
      error += (error.empty() ? "" : "; ") + name + ": " + e.what();
    }
  }
  return nullptr;
}

config::Config with_topology(const config::Config& config,
                             std::shared_ptr<const route::ClusterSlots> slots) {
  config::Config out = config;
  out.pool.nodes.clear();
  for (const auto& n : slots->nodes()) {
    config::NodeConfig node;
    node.name = n.name;
    node.address = config::Endpoint{n.host, n.port};
    out.pool.nodes.push_back(std::move(node));
  }
  out.pool.replicas.clear();
  if (config.pool.cluster.read_from != config::ReadFrom::kPrimary) {
    for (const auto& n : slots->nodes()) {
      for (const auto& r : n.replicas) {
        config::NodeConfig node;
        node.name = r.name;
        node.address = config::Endpoint{r.host, r.port};
        out.pool.replicas.push_back(std::move(node));
      }
    }
  }
  out.pool.slots = std::move(slots);
  return out;
}

}  // namespace sidecache::backend
