// Learning a Sentinel-watched primary (control plane, blocking: run it on the daemon's thread,
// never on a worker). The Sentinels are asked in order for the master's address; an address is
// taken only once it answers ROLE as a master. The primary becomes the pool's one node, so a
// failover is a new node list that goes through the same path as a config reload (the new
// primary gets connections, the old one's are drained).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/blocking_client.hpp"
#include "backend/node_stream.hpp"
#include "config/config.hpp"

namespace sidecache::backend {

// A +switch-master message: "<master> <old-ip> <old-port> <new-ip> <new-port>".
struct SwitchMaster {
  std::string master;
  config::Endpoint from;
  config::Endpoint to;
};
// nullopt when `payload` is not that shape.
std::optional<SwitchMaster> parse_switch_master(std::string_view payload);

// What a node says it is (ROLE's first element); kUnknown for an error or another shape.
enum class Role { kMaster, kReplica, kSentinel, kUnknown };
Role parse_role(const Reply& reply);
const char* role_name(Role role);

// SENTINEL get-master-addr-by-name: [ip, port], or nullopt for nil (a master the Sentinel does
// not monitor). Throws std::invalid_argument for an error reply or another shape.
std::optional<config::Endpoint> parse_master_addr(const Reply& reply);

// SENTINEL replicas <master>: the replicas' addresses, without those the Sentinel flags down
// (s_down, o_down, disconnected). Throws std::invalid_argument for an error reply or another
// shape.
std::vector<config::Endpoint> parse_replicas(const Reply& reply);

struct Resolution {
  std::optional<config::Endpoint> primary;  // an address that answered ROLE master
  // Addresses that were named as the primary but answered ROLE as a replica.
  std::vector<config::Endpoint> replicas;
  // With pool.sentinel.read_from other than primary: the primary's replicas a Sentinel lists
  // (up ones only), sorted; empty otherwise.
  std::vector<config::Endpoint> readable;
  std::string error;  // without a primary: why, per Sentinel
};

// `hint` (the address a +switch-master announced) is checked first; then each Sentinel of
// pool.sentinel is asked in order, and the first named address that answers ROLE master wins.
// ROLE goes over a connection opened like the pool's own (its credentials and TLS).
Resolution resolve_primary(const config::PoolConfig& pool,
                           const std::optional<config::Endpoint>& hint);
// The same for `master` (a ring of Sentinel groups: one node's master).
Resolution resolve_primary(const config::PoolConfig& pool, const std::string& master,
                           const std::optional<config::Endpoint>& hint);

// AUTH and TLS for connections to the Sentinels (pool.sentinel's credentials and tls; database
// 0). A TLS context that cannot be built is kept as tls_error: every connect fails with it.
std::shared_ptr<const NodeSecurity> sentinel_security(const config::SentinelConfig& sentinel);

// `config` with `primary` as the pool's one node, named host:port, and `replicas` (read_from)
// as its replicas, named host:port.
config::Config with_primary(const config::Config& config, const config::Endpoint& primary,
                            const std::vector<config::Endpoint>& replicas = {});
// The replicas a sentinel pool's config reads from.
std::vector<config::Endpoint> replicas_of(const config::PoolConfig& pool);
// `config` with the stand-in node (no connections, every request answered with an error that
// names the master and `why`; the daemon gives it no health checker).
config::Config without_primary(const config::Config& config, std::string why);
// The primary a sentinel pool's config sends to; nullopt for the stand-in or another pool.
std::optional<config::Endpoint> primary_of(const config::PoolConfig& pool);

// A ring of Sentinel groups: node `index` (a group) with `primary` as its address, or without
// one (`why`: the node then refuses its keys and gets no connections). The node keeps its
// name, so the ring does not change.
void set_group_primary(config::PoolConfig& pool, std::size_t index,
                       const config::Endpoint& primary);
void clear_group_primary(config::PoolConfig& pool, std::size_t index, std::string why);
// The primary group node `index` sends to; nullopt while none is known.
std::optional<config::Endpoint> group_primary(const config::PoolConfig& pool, std::size_t index);
// The group node of `master`, or pool.nodes.size().
std::size_t group_of(const config::PoolConfig& pool, const std::string& master);
// The masters a pool follows: a sentinel pool's one, a ring's groups' (empty for others).
std::vector<std::string> followed_masters(const config::PoolConfig& pool);

}  // namespace sidecache::backend
