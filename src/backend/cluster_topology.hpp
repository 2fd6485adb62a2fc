// Learning a Redis Cluster's topology (control plane, blocking: run it on the daemon's thread,
// never on a worker). The slot map comes from CLUSTER SLOTS; the primaries it names become the
// pool's nodes, so a topology change is a new node list that goes through the same path as a
// config reload (new nodes get connections, removed ones are drained).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/blocking_client.hpp"
#include "config/config.hpp"
#include "route/cluster_slots.hpp"

namespace sidecache::backend {

// The ranges of a CLUSTER SLOTS reply (primaries, each with its replicas). An empty host (the
// node does not know its own address) is `asked_host`, the host the reply came from, as Redis
// documents.
// Throws std::invalid_argument when the reply is not CLUSTER SLOTS' shape.
std::vector<route::SlotRange> parse_cluster_slots(const Reply& reply,
                                                  const std::string& asked_host);

// Asks `candidates` in order (then the pool's seeds) for CLUSTER SLOTS; the first complete
// answer wins. Null when none answered; `error` then says why, per node.
std::shared_ptr<const route::ClusterSlots> fetch_cluster_slots(
    const config::PoolConfig& pool, std::span<const config::NodeConfig> candidates,
    std::uint64_t epoch, std::string& error);

// `config` with the cluster's primaries as pool.nodes (named host:port, in the map's order),
// their replicas as pool.replicas when cluster.read_from uses them, and `slots` as pool.slots.
config::Config with_topology(const config::Config& config,
                             std::shared_ptr<const route::ClusterSlots> slots);

}  // namespace sidecache::backend
