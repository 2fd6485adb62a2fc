// Loading sidecache's YAML config, staged like twemproxy's nc_conf.c:
//   1. syntax: yaml-cpp builds the document (errors carry its position);
//   2. structure and directives: each section is read with one table of keys (name, parser,
//      help), so adding a key is one line; per-key types and ranges are checked here;
//   3. semantics: checks across keys (validate.cpp).
#include "config/config.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/reader.hpp"
#include "route/ketama_ring.hpp"

namespace sidecache::config {
namespace {

using detail::Directive;
using detail::read_duration;
using detail::read_endpoint;
using detail::read_integer;
using detail::read_size;
using detail::Value;

constexpr Millis::rep kMaxTimeoutMs = 10 * 60 * 1000;  // 10m
constexpr std::uint64_t kMaxBytes = 1ull << 40;        // 1024gb: a sanity bound, not a tuning limit
constexpr std::uint64_t kMaxCount = 1u << 20;

void read_hash(PoolConfig& pool, const Value& value) {
  const auto name = value.scalar();
  if (const auto kind = route::parse_hash_kind(name)) {
    pool.hash = *kind;
    return;
  }
  std::string list;
  for (auto i = 0; i <= static_cast<int>(route::HashKind::kHsieh); ++i) {
    list += (list.empty() ? "" : ", ") +
            std::string(route::hash_kind_name(static_cast<route::HashKind>(i)));
  }
  value.fail("unknown hash '" + name + "' (expected one of: " + list + ")");
}

void read_distribution(PoolConfig&, const Value& value) {
  const auto name = value.scalar();
  if (name == "ketama") return;
  if (name == "modula" || name == "random") {
    value.fail("distribution '" + name + "' is not supported yet (only 'ketama' is)");
  }
  value.fail("unknown distribution '" + name + "' (only 'ketama' is supported)");
}

void read_hash_tag(PoolConfig& pool, const Value& value) {
  if (value.node().IsMap() && value.node().size() == 0) {
    value.fail("an unquoted {} is an empty YAML map: write hash_tag: \"{}\"");
  }
  const auto tag = value.scalar();
  if (tag.empty()) {
    pool.hash_tag = route::HashTag{false, '{', '}'};
  } else if (tag.size() == 2) {
    pool.hash_tag = route::HashTag{true, tag[0], tag[1]};
  } else {
    value.fail("must be exactly two characters (e.g. \"{}\"), or \"\" to turn tags off; got '" +
               tag + "'");
  }
}

void read_level(LoggingConfig& logging, const Value& value) {
  static constexpr std::string_view kLevels[] = {"trace", "debug",    "info", "warn",
                                                 "error", "critical", "off"};
  logging.level = value.one_of(kLevels);
}

void read_format(LoggingConfig& logging, const Value& value) {
  static constexpr std::string_view kFormats[] = {"text", "json"};
  logging.format = value.one_of(kFormats) == "json" ? LogFormat::kJson : LogFormat::kText;
}

void read_name(NodeConfig& node, const Value& value) { node.name = value.non_empty(); }

void read_down_policy(PoolConfig& pool, const Value& value) {
  static constexpr std::string_view kPolicies[] = {"fail_fast", "remap"};
  pool.down_policy =
      value.one_of(kPolicies) == "remap" ? DownPolicy::kRemap : DownPolicy::kFailFast;
}

void read_health_enabled(HealthConfig& health, const Value& value) {
  health.enabled = value.boolean();
}

constexpr Directive<HealthConfig> kHealthDirectives[] = {
    {"enabled", read_health_enabled, "probe nodes with PING and eject failing ones"},
    {"interval", read_duration<&HealthConfig::interval, 10, kMaxTimeoutMs>,
     "time between probes of a healthy node"},
    {"timeout", read_duration<&HealthConfig::timeout, 1, kMaxTimeoutMs>,
     "a probe not answered by then failed"},
    {"failure_threshold", read_integer<&HealthConfig::failure_threshold, 1, 1000>,
     "consecutive failures (probes or requests) that mark a node down"},
    {"success_threshold", read_integer<&HealthConfig::success_threshold, 1, 1000>,
     "consecutive successful probes that readmit a down node"},
    {"max_interval", read_duration<&HealthConfig::max_interval, 10, kMaxTimeoutMs>,
     "probes of a down node back off up to this interval"},
};

void read_health(PoolConfig& pool, const Value& value) {
  detail::read_section(value, kHealthDirectives, pool.health);
}

constexpr Directive<PoolConfig> kBackoffDirectives[] = {
    {"min", read_duration<&PoolConfig::reconnect_backoff_min, 1, kMaxTimeoutMs>,
     "first delay before reconnecting to a node"},
    {"max", read_duration<&PoolConfig::reconnect_backoff_max, 1, kMaxTimeoutMs>,
     "the delay doubles up to this"},
};

void read_node_username(NodeConfig& node, const Value& value) { node.username = value.scalar(); }

using Kind = SecretSource::Kind;

constexpr Directive<NodeConfig> kNodeDirectives[] = {
    {"name", read_name, "hashed on the ring; default twemproxy's: host:port (host for 11211)"},
    {"address", read_endpoint<&NodeConfig::address>, "host:port or [v6]:port (required)"},
    {"master", detail::read_string<&NodeConfig::master>,
     "a ring with pool.sentinel: the Sentinel master name of this group (instead of address)"},
    {"weight", read_integer<&NodeConfig::weight, detail::kMinWeight, detail::kMaxWeight>,
     "share of the ring relative to the other nodes"},
    {"username", read_node_username, "ACL user for this node (overrides pool.username)"},
    {"password_file", detail::read_secret<&NodeConfig::password, Kind::kFile>,
     "file holding this node's password (overrides the pool's)"},
    {"password_env", detail::read_secret<&NodeConfig::password, Kind::kEnv>,
     "environment variable holding this node's password"},
    {"password", detail::read_secret<&NodeConfig::password, Kind::kLiteral>,
     "this node's password in the config itself (warned: prefer password_file)"},
};

void read_tls_enabled(TlsConfig& tls, const Value& value) { tls.enabled = value.boolean(); }

void read_tls_verify(TlsConfig& tls, const Value& value) {
  tls.verify = value.boolean();
  if (!tls.verify) {
    value.warn(
        "TLS peer verification is off: any certificate is accepted, a man in the middle "
        "is not detected");
  }
}

void read_tls_min_version(TlsConfig& tls, const Value& value) {
  static constexpr std::string_view kVersions[] = {"1.2", "1.3"};
  tls.min_version = value.one_of(kVersions);
}

constexpr Directive<TlsConfig> kTlsDirectives[] = {
    {"enabled", read_tls_enabled, "TLS on every connection to the nodes; false"},
    {"ca_file", detail::read_string<&TlsConfig::ca_file>,
     "PEM CA certificates to trust; default: the system's trust store"},
    {"cert_file", detail::read_string<&TlsConfig::cert_file>,
     "PEM client certificate (mutual TLS), with key_file"},
    {"key_file", detail::read_string<&TlsConfig::key_file>, "PEM private key of cert_file"},
    {"server_name", detail::read_string<&TlsConfig::server_name>,
     "SNI and the certificate name checked; default: the node's host (name or IP)"},
    {"verify", read_tls_verify, "verify the node's certificate chain and name; true"},
    {"min_version", read_tls_min_version, "lowest TLS version: 1.2 or 1.3"},
};

void read_sentinel_tls(SentinelConfig& sentinel, const Value& value) {
  sentinel.tls.enabled = true;  // as pool.tls: a section means TLS unless it says enabled: false
  detail::read_section(value, kTlsDirectives, sentinel.tls);
}

void read_tls(PoolConfig& pool, const Value& value) {
  pool.tls.enabled = true;  // a tls: section means TLS unless it says enabled: false
  detail::read_section(value, kTlsDirectives, pool.tls);
}

NodeConfig read_node(const Value& value);

// A cluster pool's seed: "host:port" (or the map form, checked by validate_cluster).
NodeConfig read_seed(const Value& value) {
  if (!value.is_scalar()) return read_node(value);
  NodeConfig node;
  try {
    node.address = parse_endpoint(value.scalar());
  } catch (const std::invalid_argument& e) {
    value.fail(std::string("a cluster seed is host:port: ") + e.what());
  }
  node.name = route::cluster_node_name(node.address.host, node.address.port);
  return node;
}

NodeConfig read_node(const Value& value) {
  NodeConfig node;
  if (value.is_scalar()) {
    try {
      node = detail::parse_server_string(value.scalar());
    } catch (const std::invalid_argument& e) {
      value.fail(e.what());
    }
  } else if (value.node().IsMap()) {
    detail::read_section(value, kNodeDirectives, node);
    if (node.address.port == 0 && node.master.empty()) {
      value.fail("missing required key 'address'");
    }
  } else {
    value.fail("expected a map {name, address, weight} or a \"host:port:weight [name]\" string");
  }
  // A Sentinel group is named by its master unless named: the ring keeps its place over failovers.
  if (node.name.empty() && !node.master.empty()) node.name = node.master;
  // twemproxy's name for an unnamed server: "host:port", or "host" when the port is 11211.
  if (node.name.empty()) node.name = route::default_node_name(node.address.host, node.address.port);
  return node;
}

void read_nodes(PoolConfig& pool, const Value& value) {
  value.expect_sequence();
  pool.nodes.clear();
  std::size_t index = 0;
  for (const auto& item : value.node()) {
    const Value entry = value.item(item, index++);
    pool.nodes.push_back(pool.type == PoolType::kCluster ? read_seed(entry) : read_node(entry));
  }
}

void read_backoff(PoolConfig& pool, const Value& value) {
  detail::read_section(value, kBackoffDirectives, pool);
}

void read_pool_type(PoolConfig& pool, const Value& value) {
  static constexpr std::string_view kTypes[] = {"ring", "cluster", "sentinel"};
  const auto type = value.one_of(kTypes);
  pool.type = type == "cluster"    ? PoolType::kCluster
              : type == "sentinel" ? PoolType::kSentinel
                                   : PoolType::kRing;
}

void read_read_from(ClusterConfig& cluster, const Value& value) {
  static constexpr std::string_view kModes[] = {"primary", "prefer_replica", "replica"};
  const auto mode = value.one_of(kModes);
  cluster.read_from = mode == "replica"          ? ReadFrom::kReplica
                      : mode == "prefer_replica" ? ReadFrom::kPreferReplica
                                                 : ReadFrom::kPrimary;
}

void read_sentinel_read_from(SentinelConfig& sentinel, const Value& value) {
  ClusterConfig parsed;
  read_read_from(parsed, value);
  sentinel.read_from = parsed.read_from;
}

constexpr Directive<ClusterConfig> kClusterDirectives[] = {
    {"read_from", read_read_from,
     "read-only commands go to: primary, prefer_replica (a replica that is up, else the "
     "primary) or replica"},
    {"refresh_interval", read_duration<&ClusterConfig::refresh_interval, 100, kMaxTimeoutMs>,
     "ask the cluster for its slot map this often"},
    {"refresh_min_interval", read_duration<&ClusterConfig::refresh_min_interval, 0, kMaxTimeoutMs>,
     "refreshes after a MOVED or a node failure: at most one per this interval"},
    {"max_redirects", read_integer<&ClusterConfig::max_redirects, 0, 16>,
     "MOVED / ASK / TRYAGAIN / CLUSTERDOWN followed per request before the error is returned"},
    {"retry_delay", read_duration<&ClusterConfig::retry_delay, 1, 10000>,
     "first wait before resending after TRYAGAIN / CLUSTERDOWN (doubles each time)"},
};

void read_cluster(PoolConfig& pool, const Value& value) {
  detail::read_section(value, kClusterDirectives, pool.cluster);
}

void read_sentinel_addresses(SentinelConfig& sentinel, const Value& value) {
  value.expect_sequence();
  sentinel.sentinels.clear();
  std::size_t index = 0;
  for (const auto& item : value.node()) {
    const Value entry = value.item(item, index++);
    try {
      sentinel.sentinels.push_back(parse_endpoint(entry.scalar()));
    } catch (const std::invalid_argument& e) {
      entry.fail(std::string("a Sentinel is host:port: ") + e.what());
    }
  }
}

constexpr Directive<SentinelConfig> kSentinelDirectives[] = {
    {"master", detail::read_string<&SentinelConfig::master>,
     "the name the Sentinels monitor the primary under (required)"},
    {"sentinels", read_sentinel_addresses,
     "Sentinel addresses, host:port, asked in order (at least one)"},
    {"username", detail::read_string<&SentinelConfig::username>, "ACL user for Sentinel AUTH"},
    {"password_file", detail::read_secret<&SentinelConfig::password, Kind::kFile>,
     "file holding the Sentinels' password"},
    {"password_env", detail::read_secret<&SentinelConfig::password, Kind::kEnv>,
     "environment variable holding the Sentinels' password"},
    {"password", detail::read_secret<&SentinelConfig::password, Kind::kLiteral>,
     "the Sentinels' password in the config itself (warned: prefer password_file)"},
    {"refresh_interval", read_duration<&SentinelConfig::refresh_interval, 100, kMaxTimeoutMs>,
     "ask the Sentinels for the primary (and check it with ROLE) this often"},
    {"tls", read_sentinel_tls,
     "TLS to the Sentinels: {enabled, ca_file, cert_file, key_file, server_name, verify, "
     "min_version}"},
    {"read_from", read_sentinel_read_from,
     "read-only commands go to: primary, prefer_replica (a replica the Sentinels list that is "
     "up, else the primary) or replica"},
    {"refresh_min_interval", read_duration<&SentinelConfig::refresh_min_interval, 0, kMaxTimeoutMs>,
     "asks after the primary is marked down or a failed ask: at most one per this interval"},
};

void read_sentinel(PoolConfig& pool, const Value& value) {
  detail::read_section(value, kSentinelDirectives, pool.sentinel);
}

constexpr Directive<PoolConfig> kPoolDirectives[] = {
    {"type", read_pool_type,
     "ring (standalone servers, ketama), cluster (a Redis Cluster) or sentinel (a primary "
     "watched by Sentinel)"},
    {"cluster", read_cluster,
     "cluster pools: {read_from, refresh_interval, refresh_min_interval, max_redirects, "
     "retry_delay}"},
    {"sentinel", read_sentinel,
     "sentinel pools: {master, sentinels, username, password_file, refresh_interval, "
     "refresh_min_interval}"},
    {"hash", read_hash, "key hash function (twemproxy's names)"},
    {"distribution", read_distribution, "node selection: only ketama"},
    {"hash_tag", read_hash_tag, "two characters around the hashed part of a key; \"\" for none"},
    {"connections_per_node", read_integer<&PoolConfig::connections_per_node, 1, 64>,
     "pipelined connections per node per worker"},
    {"connect_timeout", read_duration<&PoolConfig::connect_timeout, 1, kMaxTimeoutMs>,
     "time allowed to connect to a node"},
    {"request_timeout", read_duration<&PoolConfig::request_timeout, 0, kMaxTimeoutMs>,
     "time allowed for a node's reply; 0 disables"},
    {"reconnect_backoff", read_backoff, "{min, max} delay between reconnection attempts"},
    {"max_inflight_per_connection",
     read_integer<&PoolConfig::max_inflight_per_connection, 1, kMaxCount>,
     "requests awaiting a reply on one node connection"},
    {"nodes", read_nodes, "the Redis servers of the ring; a cluster pool: seed addresses"},
    {"down_policy", read_down_policy,
     "fail_fast (error for a down node's keys) or remap (its keys move while it is down)"},
    {"health", read_health, "active PING probes and ejection of failing nodes"},
    {"retry_budget_percent", read_integer<&PoolConfig::retry_budget_percent, 0, 100>,
     "read-only retries after a broken connection, as a share of requests; 0 disables"},
    {"idle_timeout", read_duration<&PoolConfig::idle_timeout, 0, kMaxTimeoutMs>,
     "close a node connection idle this long (reopened on demand); 0 never"},
    {"max_connection_age", read_duration<&PoolConfig::max_connection_age, 0, kMaxTimeoutMs>,
     "replace a node connection after this long; 0 never"},
    {"max_dedicated_connections",
     read_integer<&PoolConfig::max_dedicated_connections, 1, kMaxCount>,
     "connections of clients' own (MULTI, blocking commands, Pub/Sub) per node, whole process"},
    {"username", detail::read_string<&PoolConfig::username>,
     "ACL user sidecache authenticates as on every node connection"},
    {"password_file", detail::read_secret<&PoolConfig::password, Kind::kFile>,
     "file holding the nodes' password (a mounted Secret; re-read for every new connection)"},
    {"password_env", detail::read_secret<&PoolConfig::password, Kind::kEnv>,
     "environment variable holding the nodes' password"},
    {"password", detail::read_secret<&PoolConfig::password, Kind::kLiteral>,
     "the nodes' password in the config itself (warned: prefer password_file)"},
    {"db", read_integer<&PoolConfig::db, 0, 1000000>, "SELECT this database on every connection"},
    {"tls", read_tls, "{enabled, ca_file, cert_file, key_file, server_name, verify, min_version}"},
};

constexpr Directive<LimitsConfig> kLimitsDirectives[] = {
    {"max_clients", read_integer<&LimitsConfig::max_clients, 1, 1000000>,
     "client connections accepted at once"},
    {"max_args", read_integer<&LimitsConfig::max_args, 1, 2147483647>, "arguments in one command"},
    {"max_bulk_bytes", read_size<&LimitsConfig::max_bulk_bytes, 1, kMaxBytes>,
     "bytes in one argument"},
    {"max_inline_bytes", read_size<&LimitsConfig::max_inline_bytes, 1, kMaxBytes>,
     "bytes in one inline command or header line"},
    {"max_pending_bytes", read_size<&LimitsConfig::max_pending_bytes, 1, kMaxBytes>,
     "one client's unparsed input"},
    {"max_pipeline", read_integer<&LimitsConfig::max_pipeline, 1, kMaxCount>,
     "one client's requests awaiting replies before reading pauses"},
    {"max_output_bytes", read_size<&LimitsConfig::max_output_bytes, 1, kMaxBytes>,
     "one client's buffered replies: reading pauses near it, a client beyond it is closed"},
    {"max_total_output_bytes", read_size<&LimitsConfig::max_total_output_bytes, 0, kMaxBytes>,
     "all clients' buffered replies: beyond it the largest consumers are closed (0: no bound)"},
};

constexpr Directive<LoggingConfig> kLoggingDirectives[] = {
    {"level", read_level, "trace, debug, info, warn, error, critical or off"},
    {"format", read_format, "text or json (one object per line)"},
    {"slow_request_threshold",
     read_duration<&LoggingConfig::slow_request_threshold, 0, kMaxTimeoutMs>,
     "log requests slower than this (command and node, never values); 0 disables"},
};

void read_watch(ProcessConfig& process, const Value& value) {
  process.watch_config = value.boolean();
}

constexpr Directive<ProcessConfig> kProcessDirectives[] = {
    {"watch_config", read_watch, "reload when the config file (or the symlink to it) changes"},
    {"watch_interval", read_duration<&ProcessConfig::watch_interval, 10, kMaxTimeoutMs>,
     "how often the config file is checked for changes"},
    {"drain_timeout", read_duration<&ProcessConfig::drain_timeout, 0, kMaxTimeoutMs>,
     "on SIGTERM, time allowed to answer requests already read before exiting"},
};

void read_process(Config& config, const Value& value) {
  detail::read_section(value, kProcessDirectives, config.process);
}

constexpr Directive<HttpConfig> kHttpDirectives[] = {
    {"listen", read_endpoint<&HttpConfig::listen>,
     "host:port or [v6]:port for /metrics and probes"},
    {"ready_min_nodes_up", read_integer<&HttpConfig::ready_min_nodes_up, 0, kMaxCount>,
     "/readyz answers 200 only while at least this many nodes are connected"},
    {"max_connections", read_integer<&HttpConfig::max_connections, 1, 4096>,
     "HTTP connections at once; past it the longest-idle one is closed for the new one"},
    {"idle_timeout", read_duration<&HttpConfig::idle_timeout, 1, kMaxTimeoutMs>,
     "a connection that has not started a request (new or kept alive) is closed after this"},
    {"request_timeout", read_duration<&HttpConfig::request_timeout, 1, kMaxTimeoutMs>,
     "time from a request's first byte to its complete reply"},
};

void read_refresh_ahead(HotKeysConfig& config, const Value& value) {
  config.refresh_ahead = value.real(0.01, 0.9);
}

constexpr Directive<HotKeysConfig> kHotKeysDirectives[] = {
    {"enabled", detail::read_boolean<&HotKeysConfig::enabled>,
     "count the keys clients touch to find the hottest; true"},
    {"capacity", read_integer<&HotKeysConfig::capacity, 8, 65536>,
     "keys tracked per worker; any key above 1/capacity of the traffic is found"},
    {"half_life", read_duration<&HotKeysConfig::half_life, 1000, 24 * 3600 * 1000>,
     "every count halves this often, so keys that cooled down fade"},
    {"sample", read_integer<&HotKeysConfig::sample, 1, 1024>,
     "count one key access in this many, chosen at random (1: every one)"},
    {"metrics_top_n", read_integer<&HotKeysConfig::metrics_top_n, 0, 100>,
     "export sidecache_hotkey_* gauges for this many hottest keys; 0: no per-key labels"},
    {"expose_names", detail::read_boolean<&HotKeysConfig::expose_names>,
     "metric labels carry key names (else a 64-bit hash of each key, in hex); false"},
    {"refresh_top", read_integer<&HotKeysConfig::refresh_top, 0, 1024>,
     "read-through keys among each worker's N hottest are reloaded before they expire; 0: off"},
    {"refresh_ahead", read_refresh_ahead,
     "reload a hot key when a hit finds at most this fraction of its TTL left; 0.2"},
};

void read_hotkeys(Config& config, const Value& value) {
  detail::read_section(value, kHotKeysDirectives, config.hotkeys);
  if (config.hotkeys.refresh_top > config.hotkeys.capacity) {
    value.fail("refresh_top (" + std::to_string(config.hotkeys.refresh_top) +
               ") must not exceed capacity (" + std::to_string(config.hotkeys.capacity) + ")");
  }
  if (config.hotkeys.refresh_top > 0 && !config.hotkeys.enabled) {
    value.fail("refresh_top needs hot-key detection: set enabled: true");
  }
  if (config.hotkeys.metrics_top_n > config.hotkeys.capacity) {
    value.fail("metrics_top_n (" + std::to_string(config.hotkeys.metrics_top_n) +
               ") must not exceed capacity (" + std::to_string(config.hotkeys.capacity) + ")");
  }
}

constexpr Directive<CommandsConfig> kCommandsDirectives[] = {
    {"allow_keys", detail::read_boolean<&CommandsConfig::allow_keys>,
     "allow KEYS (runs on every node and blocks each); false"},
    {"allow_flush", detail::read_boolean<&CommandsConfig::allow_flush>,
     "allow FLUSHDB and FLUSHALL (empty every node); false"},
    {"deny", detail::read_deny,
     "commands nobody may run through sidecache: [FLUSHALL, DEBUG, CONFIG SET]"},
};

void read_commands(Config& config, const Value& value) {
  detail::read_section(value, kCommandsDirectives, config.commands);
}

void read_pool(Config& config, const Value& value) {
  // The type decides how `nodes` reads, wherever it stands in the section.
  if (value.node().IsMap()) {
    const auto type = value.node()["type"];
    if (type && type.IsScalar() && type.Scalar() == "cluster") {
      config.pool.type = PoolType::kCluster;
    }
  }
  detail::read_section(value, kPoolDirectives, config.pool);
}
void read_limits(Config& config, const Value& value) {
  detail::read_section(value, kLimitsDirectives, config.limits);
}
void read_logging(Config& config, const Value& value) {
  detail::read_section(value, kLoggingDirectives, config.logging);
}

void read_http(Config& config, const Value& value) {
  config.http.emplace();
  detail::read_section(value, kHttpDirectives, *config.http);
}

constexpr Directive<Config> kTopDirectives[] = {
    {"listen", read_endpoint<&Config::listen>, "host:port or [v6]:port clients connect to"},
    {"workers", read_integer<&Config::workers, 0, 256>,
     "worker threads; 0 = the cores this process may use (cgroup CPU limit)"},
    {"pool", read_pool, "the Redis servers and how keys are spread over them"},
    {"limits", read_limits, "per-client protocol and buffering limits"},
    {"logging", read_logging, "log level and format"},
    {"process", read_process, "live reload and graceful shutdown"},
    {"http", read_http, "HTTP endpoint for metrics and health probes; off when absent"},
    {"cache", detail::read_cache, "read-through caching from a database, per key pattern"},
    {"commands", read_commands, "whole-keyspace commands allowed or denied through sidecache"},
    {"auth", detail::read_auth, "client authentication: password (requirepass) and ACL users"},
    {"hotkeys", read_hotkeys,
     "hot-key detection: SIDECACHE HOTKEYS, /debug/hotkeys, opt-in per-key metrics"},
    {"near_cache", detail::read_near_cache,
     "an L1 in the process for GET/MGET of matching keys, coherent by CLIENT TRACKING"},
    {"listen_tls", detail::read_listen_tls,
     "a TLS listener for clients: listen, cert_file, key_file, ca_file, verify_clients"},
};

// A twemproxy file has pools named at the top level, each with `servers:`.
void reject_twemproxy_layout(const Value& root) {
  if (!root.node().IsMap() || root.node()["pool"]) return;
  for (const auto& entry : root.node()) {
    if (entry.second.IsMap() && entry.second["servers"]) {
      detail::fail_at(root.locations().source(), entry.first.Mark(),
                      "this looks like a twemproxy pool ('" + entry.first.Scalar() +
                          ".servers'); sidecache has one 'pool:' with 'nodes:' "
                          "(see docs/configuration.md, migrating from twemproxy)");
    }
  }
}

// Where each document of a YAML stream starts and where its root node is, from parser events.
class DocumentScan : public YAML::EventHandler {
 public:
  YAML::Mark start;               // of the last document
  std::vector<YAML::Mark> roots;  // root node of each document that has one

  void OnDocumentStart(const YAML::Mark& mark) override {
    start = mark;
    want_root_ = true;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnMapEnd() override {}

 private:
  void node(const YAML::Mark& mark) {
    if (want_root_) roots.push_back(mark);
    want_root_ = false;
  }
  bool want_root_ = false;
};

// The one document of `text`. Documents are counted with the event parser rather than
// YAML::LoadAll: yaml-cpp 0.7's LoadAll loops forever, allocating, on some invalid input (a
// document that consumes no token, e.g. ",--< {}"). A document starting where the previous one
// did is that case, reported as a syntax error.
YAML::Node parse_document(const std::string& text, const std::string& source) {
  std::size_t documents = 0;
  DocumentScan scan;
  YAML::Node document;
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    int last_start = -1;
    while (parser.HandleNextDocument(scan)) {
      if (scan.start.pos == last_start) {
        detail::fail_at(source, scan.start, "YAML syntax error: unexpected content");
      }
      last_start = scan.start.pos;
      ++documents;
    }
    if (documents == 1) document = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    detail::fail_at(source, e.mark, "YAML syntax error: " + e.msg);
  }
  if (documents > 1) {
    detail::fail_at(source, scan.roots.size() > 1 ? scan.roots[1] : scan.start,
                    "expected one YAML document, found " + std::to_string(documents));
  }
  if (documents == 0 || document.IsNull()) {
    detail::fail_at(source, YAML::Mark::null_mark(),
                    "empty configuration: at least pool.nodes is required");
  }
  return document;
}

// FNV-1a 64 of the file's bytes: identifies the loaded file in sidecache_config_info.
std::string digest_of(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  for (const unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, hash >>= 4) out[static_cast<std::size_t>(i)] = kHex[hash & 0xf];
  return out;
}

}  // namespace

const char* to_string(DatabaseKind kind) {
  switch (kind) {
    case DatabaseKind::kSqlite:
      return "SQLite";
    case DatabaseKind::kPostgres:
      return "PostgreSQL";
    case DatabaseKind::kMysql:
      return "MySQL";
  }
  return "unknown";
}

Config load_string(std::string_view yaml, const std::string& source, const LoadOptions& options) {
  const auto document = parse_document(std::string(yaml), source);
  Config config;
  config.source = source;
  config.digest = digest_of(yaml);
  detail::Locations locations(source);
  try {
    const Value root(document, "", locations);
    if (!document.IsMap()) root.fail("expected a map of keys at the top of the file");
    reject_twemproxy_layout(root);
    detail::read_section(root, kTopDirectives, config);
  } catch (const YAML::Exception& e) {  // should not happen: every access is type-checked
    detail::fail_at(source, e.mark, "unexpected YAML error: " + e.msg);
  }
  detail::validate(config, locations);
  if (config.pool.type == PoolType::kCluster) config.pool.seeds = config.pool.nodes;
  detail::build_auth(config);
  if (options.resolve_nodes) detail::warn_unresolved_nodes(config, locations);
  config.warnings = locations.warnings();
  for (const char* key : {"listen", "http.listen"}) {
    if (locations.has(key)) config.origins.emplace(key, locations.where(key));
  }
  return config;
}

Config load_file(const std::string& path, const LoadOptions& options) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw ConfigError(path + ": cannot read config file: is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot read config file: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": cannot read config file: read error");
  return load_string(text.str(), path, options);
}

}  // namespace sidecache::config
