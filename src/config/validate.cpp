// Stage 3 of loading: checks that span keys (twemproxy's conf_validate_pool/server), reported at
// the position of the key at fault.
#include <netdb.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "config/config.hpp"
#include "config/reader.hpp"
#include "sidecache/util/text.hpp"

namespace sidecache::config {

std::string format_endpoint(const Endpoint& endpoint) {
  if (endpoint.host.find(':') != std::string::npos) {
    return "[" + endpoint.host + "]:" + std::to_string(endpoint.port);
  }
  return endpoint.host + ":" + std::to_string(endpoint.port);
}

namespace detail {
namespace {

bool is_wildcard(const std::string& host) { return host == "0.0.0.0" || host == "::"; }

// Loopback names that reach this machine without resolving anything.
bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

// Whether two addresses surely reach the same socket on this machine. Without resolving names
// only the obvious cases are caught: equal hosts, and localhost against 127.0.0.1 / ::1.
bool same_address(const Endpoint& a, const Endpoint& b) {
  if (a.port != b.port) return false;
  const auto host_a = lower(a.host);
  const auto host_b = lower(b.host);
  if (host_a == host_b) return true;
  return (host_a == "localhost" && (host_b == "127.0.0.1" || host_b == "::1")) ||
         (host_b == "localhost" && (host_a == "127.0.0.1" || host_a == "::1"));
}

// sidecache listening on `listen` would receive its own traffic for a node at `node`.
bool listens_on(const Endpoint& listen, const Endpoint& node) {
  if (same_address(listen, node)) return true;
  const auto host = lower(node.host);
  return listen.port == node.port && is_wildcard(listen.host) &&
         (is_wildcard(host) || is_loopback(host));
}

std::string node_path(std::size_t index) { return "pool.nodes[" + std::to_string(index) + "]"; }

void validate_nodes(const Config& config, const Locations& locations) {
  const auto& nodes = config.pool.nodes;
  // A sentinel pool's node comes from Sentinel (validate_sentinel rejects listed ones).
  if (nodes.empty() && config.pool.type != PoolType::kSentinel) {
    locations.fail("pool.nodes", "at least one node is required");
  }
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (!nodes[i].master.empty()) continue;  // a Sentinel group: its address comes from Sentinel
    const auto address = format_endpoint(nodes[i].address);
    if (listens_on(config.listen, nodes[i].address)) {
      locations.fail(node_path(i) + ".address", "node address " + address +
                                                    " is sidecache's own listen address (listen: " +
                                                    format_endpoint(config.listen) + ")");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (nodes[j].master.empty() && same_address(nodes[j].address, nodes[i].address)) {
        locations.fail(node_path(i) + ".address",
                       "duplicate node address " + address + " (also " + node_path(j) + ")");
      }
    }
  }
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (nodes[j].name == nodes[i].name) {
        locations.fail(node_path(i) + ".name",
                       "duplicate node name '" + nodes[i].name + "' (also " + node_path(j) + ")");
      }
    }
  }
}

// Files named by a TLS section must be readable now: a typo is a config error at its key, not a
// node that never connects.
void check_readable(const std::string& file, const std::string& path, const Locations& locations) {
  if (file.empty()) return;
  std::ifstream in(file, std::ios::binary);
  if (!in) locations.fail(path, "cannot read " + file + ": " + std::strerror(errno));
}

void validate_tls(const TlsConfig& tls, const std::string& path, const Locations& locations) {
  if (!tls.enabled) return;
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    locations.fail(path + (tls.cert_file.empty() ? ".key_file" : ".cert_file"),
                   "cert_file and key_file go together");
  }
  check_readable(tls.ca_file, path + ".ca_file", locations);
  check_readable(tls.cert_file, path + ".cert_file", locations);
  check_readable(tls.key_file, path + ".key_file", locations);
}

void validate_pool(const PoolConfig& pool, const Locations& locations) {
  if (pool.reconnect_backoff_min > pool.reconnect_backoff_max) {
    locations.fail("pool.reconnect_backoff.min",
                   std::to_string(pool.reconnect_backoff_min.count()) + "ms must not exceed max (" +
                       std::to_string(pool.reconnect_backoff_max.count()) + "ms)");
  }
  if (!pool.username.empty() && pool.password.empty()) {
    locations.fail("pool.username", "a username needs a password (password_file or password_env)");
  }
  for (std::size_t i = 0; i < pool.nodes.size(); ++i) {
    const auto& node = pool.nodes[i];
    if (node.username && !node.username->empty() && node.password.empty() &&
        pool.password.empty()) {
      locations.fail(node_path(i) + ".username",
                     "a username needs a password (password_file or password_env)");
    }
  }
  validate_tls(pool.tls, "pool.tls", locations);
}

// A cluster pool places keys as Redis Cluster does and learns its primaries from the cluster:
// the ring's options would be silently ignored, and what is not built for clusters yet
// (write-behind) would misbehave, so both are errors at their key.
void validate_cluster(const Config& config, const Locations& locations) {
  const auto& pool = config.pool;
  if (pool.type != PoolType::kCluster) {
    if (locations.has("pool.cluster")) {
      locations.fail("pool.cluster", "only for a cluster pool (pool.type: cluster)");
    }
    return;
  }
  const std::string ring_only =
      " is a ring option; a cluster pool places keys by CRC16 slot "
      "(Redis Cluster's {hash tag} rule applies)";
  for (const char* key : {"pool.hash", "pool.hash_tag", "pool.distribution"}) {
    if (locations.has(key)) locations.fail(key, std::string(key + 5) + ring_only);
  }
  if (pool.db != 0) locations.fail("pool.db", "a Redis Cluster has only database 0");
  if (pool.down_policy == DownPolicy::kRemap) {
    locations.fail("pool.down_policy",
                   "remap moves keys off a down node: a cluster's slots stay with their node "
                   "(use fail_fast)");
  }
  for (std::size_t i = 0; i < pool.nodes.size(); ++i) {
    const auto path = node_path(i);
    if (locations.has(path + ".weight")) {
      locations.fail(path + ".weight", "weight" + ring_only);
    }
    if (locations.has(path + ".name")) {
      locations.fail(path + ".name", "name is hashed on a ring; cluster nodes are named host:port");
    }
    for (const char* key : {".username", ".password", ".password_file", ".password_env"}) {
      if (locations.has(path + key)) {
        locations.fail(path + key,
                       "per-node credentials are not supported on a cluster pool: the nodes come "
                       "from the cluster; set pool.username / pool.password_file");
      }
    }
  }
  // Every write mode works: the side keys are in the key's slot, and write-behind has one
  // queue per slot (write/queue_layout.hpp).
}

// pool.sentinel's Sentinel list and AUTH, on a sentinel pool and on a ring of Sentinel groups.
void validate_sentinel_list(const Config& config, const Locations& locations) {
  const auto& sentinel = config.pool.sentinel;
  if (sentinel.sentinels.empty()) {
    locations.fail(
        locations.has("pool.sentinel.sentinels") ? "pool.sentinel.sentinels" : "pool.sentinel",
        "at least one Sentinel address (host:port) is required");
  }
  for (std::size_t i = 0; i < sentinel.sentinels.size(); ++i) {
    const auto path = "pool.sentinel.sentinels[" + std::to_string(i) + "]";
    if (listens_on(config.listen, sentinel.sentinels[i])) {
      locations.fail(path,
                     format_endpoint(sentinel.sentinels[i]) + " is sidecache's own listen address");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (same_address(sentinel.sentinels[j], sentinel.sentinels[i])) {
        locations.fail(path,
                       "duplicate Sentinel address " + format_endpoint(sentinel.sentinels[i]));
      }
    }
  }
  if (!sentinel.username.empty() && sentinel.password.empty()) {
    locations.fail("pool.sentinel.username",
                   "a username needs a password (password_file or password_env)");
  }
  validate_tls(sentinel.tls, "pool.sentinel.tls", locations);
}

// A ring whose nodes are Sentinel groups: pool.sentinel names the Sentinels (shared by every
// group), each node names its master instead of an address.
void validate_sentinel_ring(const Config& config, const Locations& locations) {
  const auto& pool = config.pool;
  const bool watched = locations.has("pool.sentinel");
  for (std::size_t i = 0; i < pool.nodes.size(); ++i) {
    const auto path = node_path(i);
    const auto& node = pool.nodes[i];
    if (!watched) {
      if (!node.master.empty() || locations.has(path + ".master")) {
        locations.fail(path + ".master",
                       "a Sentinel group needs pool.sentinel: {sentinels: [host:port, ...]}");
      }
      continue;
    }
    if (node.master.empty()) {
      locations.fail(locations.has(path + ".master") ? path + ".master" : path,
                     "a ring with pool.sentinel has Sentinel groups as nodes: {name, master} (one "
                     "group: pool.type: sentinel)");
    }
    if (locations.has(path + ".address")) {
      locations.fail(path + ".address",
                     "a Sentinel group's address is its primary, asked of the Sentinels (drop "
                     "address or pool.sentinel)");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (pool.nodes[j].master == node.master) {
        locations.fail(path + ".master",
                       "duplicate master '" + node.master + "' (also " + node_path(j) + ")");
      }
    }
  }
  if (!watched) return;
  if (locations.has("pool.sentinel.master")) {
    locations.fail("pool.sentinel.master",
                   "a ring names a master per node (pool.nodes[i].master); pool.sentinel.master "
                   "is for pool.type: sentinel");
  }
  validate_sentinel_list(config, locations);
  if (locations.has("pool.sentinel.read_from") && pool.sentinel.read_from != ReadFrom::kPrimary) {
    locations.fail("pool.sentinel.read_from",
                   "replica reads are not supported on a ring of Sentinel groups yet (only on "
                   "pool.type: sentinel)");
  }
}

// A sentinel pool has one node, the primary the Sentinels name: nodes and ring options have no
// meaning there. A ring may have Sentinel groups as nodes (validate_sentinel_ring).
void validate_sentinel(const Config& config, const Locations& locations) {
  const auto& pool = config.pool;
  if (pool.type == PoolType::kRing) return validate_sentinel_ring(config, locations);
  if (pool.type != PoolType::kSentinel) {
    if (locations.has("pool.sentinel")) {
      locations.fail("pool.sentinel",
                     "only for a sentinel pool (pool.type: sentinel) or a ring of Sentinel groups");
    }
    for (std::size_t i = 0; i < pool.nodes.size(); ++i) {
      if (locations.has(node_path(i) + ".master")) {
        locations.fail(node_path(i) + ".master", "Sentinel groups are nodes of a ring pool only");
      }
    }
    return;
  }
  const auto& sentinel = pool.sentinel;
  if (!locations.has("pool.sentinel")) {
    locations.fail("pool.type",
                   "a sentinel pool needs pool.sentinel: {master: <name>, sentinels: "
                   "[host:port, ...]}");
  }
  if (sentinel.master.empty()) locations.fail("pool.sentinel", "missing required key 'master'");
  validate_sentinel_list(config, locations);
  if (locations.has("pool.nodes")) {
    locations.fail("pool.nodes",
                   "a sentinel pool's node is the primary the Sentinels name; list the Sentinels "
                   "in pool.sentinel.sentinels");
  }
  const std::string ring_only = " is a ring option; a sentinel pool has one node, the primary";
  for (const char* key : {"pool.hash", "pool.hash_tag", "pool.distribution"}) {
    if (locations.has(key)) locations.fail(key, std::string(key + 5) + ring_only);
  }
  if (pool.down_policy == DownPolicy::kRemap) {
    locations.fail("pool.down_policy",
                   "remap needs another node to move keys to: a sentinel pool has one (use "
                   "fail_fast)");
  }
  if (sentinel.read_from != ReadFrom::kPrimary && config.near_cache.enabled) {
    locations.fail("pool.sentinel.read_from",
                   "replica reads and near_cache together are not supported yet (the near "
                   "cache tracks the primary only)");
  }
}

// Input is buffered until a command is complete: a larger argument could never arrive.
void check_fits_pending(const LimitsConfig& limits, const Locations& locations,
                        std::string_view key, std::uint64_t value) {
  if (value <= limits.max_pending_bytes) return;
  const std::string path = "limits." + std::string(key);
  const bool at_key = locations.has(path) || !locations.has("limits.max_pending_bytes");
  locations.fail(at_key ? path : "limits.max_pending_bytes",
                 std::string(key) + " (" + std::to_string(value) +
                     " bytes) must not exceed max_pending_bytes (" +
                     std::to_string(limits.max_pending_bytes) + " bytes)");
}

void validate_limits(const LimitsConfig& limits, const Locations& locations) {
  check_fits_pending(limits, locations, "max_bulk_bytes", limits.max_bulk_bytes);
  check_fits_pending(limits, locations, "max_inline_bytes", limits.max_inline_bytes);
}

void validate_http(const Config& config, const Locations& locations) {
  if (!config.http) return;
  const auto& http = *config.http;
  const auto address = format_endpoint(http.listen);
  if (listens_on(http.listen, config.listen) || listens_on(config.listen, http.listen)) {
    locations.fail("http.listen", address + " is also the RESP listen address (listen: " +
                                      format_endpoint(config.listen) + ")");
  }
  for (std::size_t i = 0; i < config.pool.nodes.size(); ++i) {
    if (listens_on(http.listen, config.pool.nodes[i].address)) {
      locations.fail("http.listen", address + " is the address of " + node_path(i));
    }
  }
  // A cluster pool's primaries are known only once the cluster answered.
  if (config.pool.type == PoolType::kRing && http.ready_min_nodes_up > config.pool.nodes.size()) {
    locations.fail("http.ready_min_nodes_up", std::to_string(http.ready_min_nodes_up) +
                                                  " exceeds the number of nodes (" +
                                                  std::to_string(config.pool.nodes.size()) + ")");
  }
}

// Empty when `host` resolves to at least one address for TCP, else the resolver's reason.
std::string resolve_error(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (found != nullptr) ::freeaddrinfo(found);
  return rc == 0 ? std::string() : ::gai_strerror(rc);
}

}  // namespace

void validate_listen_tls(const Config& config, const Locations& locations) {
  if (!config.listen_tls) return;
  const auto& tls = config.listen_tls->listen;
  if (listens_on(tls, config.listen) || listens_on(config.listen, tls)) {
    locations.fail("listen_tls.listen", format_endpoint(tls) +
                                            " is also the plain listen address (listen: " +
                                            format_endpoint(config.listen) + ")");
  }
  if (config.http &&
      (listens_on(tls, config.http->listen) || listens_on(config.http->listen, tls))) {
    locations.fail("listen_tls.listen", format_endpoint(tls) + " is also http.listen");
  }
}

void warn_unresolved_nodes(const Config& config, Locations& locations) {
  const auto& nodes = config.pool.nodes;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (!nodes[i].master.empty()) continue;  // a Sentinel group: the Sentinels name its address
    const std::string error = resolve_error(nodes[i].address.host);
    if (error.empty()) continue;
    const std::string path = node_path(i) + ".address";
    locations.warn(locations.find(path),
                   path + ": host '" + nodes[i].address.host + "' does not resolve (" + error +
                       "); starting anyway, connecting to it fails until it does");
  }
}

void validate(const Config& config, const Locations& locations) {
  validate_listen_tls(config, locations);
  validate_nodes(config, locations);
  validate_pool(config.pool, locations);
  validate_cluster(config, locations);
  validate_sentinel(config, locations);
  validate_limits(config.limits, locations);
  validate_http(config, locations);
  validate_near_cache(config, locations);
}

}  // namespace detail
}  // namespace sidecache::config
