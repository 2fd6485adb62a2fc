// sidecache's configuration: plain structs, loaded from YAML and validated in one pass.
// Errors are thrown as ConfigError with "file:line:column: message" (control plane only).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "route/cluster_slots.hpp"
#include "route/hash.hpp"

namespace sidecache::config {

using Millis = std::chrono::milliseconds;

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Endpoint {
  std::string host;  // IPv4/IPv6 literal or hostname
  std::uint16_t port = 0;
  bool operator==(const Endpoint&) const = default;
};

// A secret (a password) named by the config but, ideally, not held in it: read from a file
// (the Kubernetes Secret volume way; re-read on every reload and when the file changes), from an
// environment variable, or, warned about by --check-config, written in the YAML itself.
// read_secret() (config/secret.hpp) gives its current value; nothing prints one.
struct SecretSource {
  enum class Kind { kNone, kLiteral, kFile, kEnv };
  Kind kind = Kind::kNone;
  std::string value;  // the literal text, the file path or the variable name
  std::string where;  // "file:line:col" of the key, for messages
  bool empty() const { return kind == Kind::kNone; }
  bool operator==(const SecretSource&) const = default;
};

// TLS on a connection sidecache opens or accepts (backend/tls_context.hpp builds the OpenSSL
// context; files are read each time a context is built, i.e. at start and on every reload).
struct TlsConfig {
  bool enabled = false;
  std::string ca_file;      // PEM CAs to trust; empty: the system's default trust store
  std::string cert_file;    // PEM certificate chain to present (with key_file)
  std::string key_file;     // PEM private key of cert_file
  std::string server_name;  // SNI and the name verified; empty: the node's host (name or IP)
  bool verify = true;       // verify the peer's chain and name; false only when written
  std::string min_version = "1.2";  // "1.2" or "1.3"
  bool operator==(const TlsConfig&) const = default;
};

struct NodeConfig {
  std::string name;  // hashed on the ring; default "host:port" ("host" for 11211) like twemproxy
  Endpoint address;
  std::uint32_t weight = 1;
  // A ring node that is a Sentinel group (pool.sentinel set): the name the Sentinels monitor it
  // under. `address` is then its primary as the Sentinels name it (filled by the daemon) and
  // `unresolved` says why none is known (the node refuses its keys meanwhile). Empty otherwise.
  std::string master{};
  std::string unresolved{};
  // Per-node credentials; unset: the pool's.
  std::optional<std::string> username{};
  SecretSource password{};
};

// Health checking of the nodes (backend/health.hpp).
struct HealthConfig {
  bool enabled = true;
  Millis interval{1000};                // PING every node this often
  Millis timeout{500};                  // a probe without an answer by then failed
  std::uint32_t failure_threshold = 3;  // consecutive failures (probes or requests): down
  std::uint32_t success_threshold = 2;  // consecutive successful probes: up again
  Millis max_interval{8000};            // probes of a down node back off up to this
};

// What requests for keys of a down node get.
enum class DownPolicy {
  kFailFast,  // an immediate error; no key moves (no stale reads, no writes to the wrong node)
  kRemap,     // the node leaves the ring while down; its keys go to the next nodes
};

// What the pool's nodes are (docs/cluster.md).
enum class PoolType {
  kRing,      // standalone Redis servers, keys spread by a ketama ring (twemproxy's layout)
  kCluster,   // a Redis Cluster: `nodes` are seeds, the primaries and slots come from the cluster
  kSentinel,  // a primary watched by Sentinel: the one node is the primary Sentinel names
};

// pool.cluster.read_from: where read-only commands of a cluster pool go.
enum class ReadFrom {
  kPrimary,        // the slot's primary (writes always go there)
  kPreferReplica,  // a replica of the slot's primary that is up, else the primary
  kReplica,        // a replica of the slot's primary; none up: the request fails
};

// pool.cluster: how a cluster pool follows the cluster's topology.
struct ClusterConfig {
  ReadFrom read_from = ReadFrom::kPrimary;
  Millis refresh_interval{5000};     // ask the cluster for its slot map this often
  Millis refresh_min_interval{250};  // refreshes a MOVED or a failure asks for: at most this often
  std::uint32_t max_redirects = 5;   // MOVED / ASK / TRYAGAIN followed per request, then the error
  Millis retry_delay{25};  // TRYAGAIN / CLUSTERDOWN: first wait before resending (doubles)
};

// pool.sentinel: where a sentinel pool learns its primary. The pool's own credentials and TLS
// are the data nodes'; these are Sentinel's (plain TCP unless pool.sentinel.tls is set).
struct SentinelConfig {
  std::string master;                 // the name the Sentinels monitor the group under
  std::vector<Endpoint> sentinels;    // asked in order; every one is watched for +switch-master
  std::string username;               // Sentinel AUTH user; empty: AUTH with the password only
  SecretSource password;              // Sentinel AUTH; empty: none
  Millis refresh_interval{5000};      // ask the Sentinels (and ROLE the primary) this often
  Millis refresh_min_interval{1000};  // after a failed ask or the primary marked down: at most
  // Where read-only commands go; the replicas are the ones the Sentinels list for the master
  // (SENTINEL replicas), without those they mark down. Sentinel pools only.
  ReadFrom read_from = ReadFrom::kPrimary;
  TlsConfig tls;  // TLS to the Sentinels (pool.sentinel.tls); off: plain TCP
  bool operator==(const SentinelConfig&) const = default;
};

struct PoolConfig {
  PoolType type = PoolType::kRing;
  ClusterConfig cluster;
  SentinelConfig sentinel;
  // A sentinel pool: `nodes` is the primary the Sentinels named (verified with ROLE), filled by
  // the daemon. While none is known, `nodes` holds one stand-in node that gets no connections
  // and answers every request with an error naming `unresolved` (why no primary is known).
  std::string unresolved;
  // A cluster pool: `seeds` are the nodes the file lists; `nodes` are the primaries the cluster
  // named (filled by the daemon after asking the seeds; until then equal to the seeds) and
  // `slots` the map that places keys on them (null until the cluster answered).
  std::vector<NodeConfig> seeds;
  std::shared_ptr<const route::ClusterSlots> slots;
  // A cluster or sentinel pool with read_from other than primary: the primaries' replicas the
  // cluster or the Sentinels named (filled with `nodes`), named host:port. Empty otherwise.
  std::vector<NodeConfig> replicas;
  route::HashKind hash = route::HashKind::kFnv1a64;
  route::HashTag hash_tag;  // "{}" by default; `hash_tag: ""` turns it off
  std::vector<NodeConfig> nodes;
  std::uint32_t connections_per_node = 1;  // per worker
  Millis connect_timeout{1000};
  Millis request_timeout{2000};  // 0 disables
  Millis reconnect_backoff_min{8};
  Millis reconnect_backoff_max{512};
  std::uint32_t max_inflight_per_connection = 65536;  // requests waiting for a reply
  DownPolicy down_policy = DownPolicy::kFailFast;
  HealthConfig health;
  std::uint32_t retry_budget_percent = 10;  // read-only retries at most this share of requests
  Millis idle_timeout{0};                   // close a node connection idle this long; 0: never
  Millis max_connection_age{0};             // reconnect after this long; 0: never
  // Dedicated connections (transactions, blocking commands, Pub/Sub) per node, whole process.
  std::uint32_t max_dedicated_connections = 1024;
  // Every connection to a node: TLS handshake, then AUTH [username] password (HELLO 3 AUTH on
  // RESP3 connections), then SELECT db, before any request.
  std::string username;  // ACL user; empty: AUTH with the password only (requirepass)
  SecretSource password;
  std::uint32_t db = 0;
  TlsConfig tls;
  // A ring whose nodes are Sentinel groups ({name, master}), each following its own primary.
  bool sentinel_groups() const {
    return type == PoolType::kRing && !nodes.empty() && !nodes[0].master.empty();
  }
};

// Commands that act on every node at once: off by default (commands:).
struct CommandsConfig {
  bool allow_keys = false;   // KEYS: runs on every node and blocks each while it scans
  bool allow_flush = false;  // FLUSHDB / FLUSHALL: empties every node
  // Commands the operator turned off (`deny:`), by full name ("flushall", "config|set"); a
  // container's name covers its subcommands.
  std::vector<std::string> deny;
  std::vector<std::uint64_t> deny_ids;  // bit per resp::CommandInfo::id, from `deny`
  bool denied(std::uint16_t id) const {
    return id / 64 < deny_ids.size() && ((deny_ids[id / 64] >> (id % 64)) & 1) != 0;
  }
};

// One user of `auth.users`: Redis ACL rules (a subset, config/acl.hpp) and a password.
struct AclUserConfig {
  std::string name;
  SecretSource password;
  bool nopass = false;  // no password: any password authenticates (Redis `nopass`)
  std::string rules;    // "+@all -@dangerous ~product:* &*"; nothing is allowed by default
  std::string where;    // "file:line:col" of the user, for messages
};

class Acl;  // the compiled users (config/acl.hpp)

// Client authentication on sidecache's own port (auth:); off unless a password or users are
// set. Passwords are read when the config is loaded or reloaded, never printed.
struct AuthConfig {
  SecretSource password;  // the default user's password, as Redis's requirepass
  std::vector<AclUserConfig> users;
  // After a failed AUTH, that client's next command waits this long (brute force).
  Millis failure_delay{250};
  std::uint32_t max_failures = 10;  // failed AUTHs on one connection before it is closed
  bool enabled() const { return !password.empty() || !users.empty(); }
};

// A TLS listener for clients (listen_tls:), next to the plain `listen`.
struct TlsListenConfig {
  Endpoint listen;
  std::string cert_file;  // PEM chain, re-read on reload
  std::string key_file;
  std::string ca_file;          // clients' certificates are verified against it when given
  bool verify_clients = false;  // mutual TLS: a certificate signed by ca_file is required
  Millis handshake_timeout{5000};
};

struct LimitsConfig {
  std::uint32_t max_clients = 10000;
  std::uint64_t max_args = 1024 * 1024;
  std::uint64_t max_bulk_bytes = 512ull * 1024 * 1024;
  std::uint64_t max_inline_bytes = 64 * 1024;
  std::uint64_t max_pending_bytes = 1024ull * 1024 * 1024;  // one client's unparsed input
  // Requests of one client awaiting replies before reading pauses.
  std::uint32_t max_pipeline = 4096;
  // One client's buffered replies (queued, parked out of order, held by merges): reading
  // pauses as it nears this, and a client with more than one reply buffered beyond it is
  // closed (a single larger reply is still delivered).
  std::uint64_t max_output_bytes = 256ull * 1024 * 1024;
  // All clients' buffered replies together: beyond it the largest consumers are closed.
  // 0: no process-wide bound.
  std::uint64_t max_total_output_bytes = 1024ull * 1024 * 1024;
};

enum class LogFormat { kText, kJson };

struct LoggingConfig {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
  LogFormat format = LogFormat::kText;
  Millis slow_request_threshold{0};  // 0: no slow-request log
};

// Live reload and shutdown (app/).
struct ProcessConfig {
  bool watch_config = true;     // reload when the file changes (also a swapped symlink)
  Millis watch_interval{1000};  // how often the file is checked
  Millis drain_timeout{10000};  // SIGTERM: time to answer what was read before exiting
};

// The HTTP endpoint for metrics and probes (/metrics, /healthz, /readyz).
struct HttpConfig {
  Endpoint listen{"127.0.0.1", 9121};
  std::uint32_t ready_min_nodes_up = 1;  // /readyz needs this many nodes connected
  std::uint32_t max_connections = 64;    // HTTP connections at once; the oldest idle one makes room
  Millis idle_timeout{2000};             // open with no request started: closed after this
  Millis request_timeout{5000};          // from a request's first byte to its complete reply
};

// Hot-key detection (hotkeys/): a heavy-hitter sketch per worker, merged when asked
// (SIDECACHE HOTKEYS, /debug/hotkeys, metrics).
struct HotKeysConfig {
  bool enabled = false;             // opt-in: 2-4 % more CPU per request (docs/near-cache.md#cost)
  std::uint32_t capacity = 256;     // keys tracked per worker (Space-Saving counters)
  Millis half_life{10000};          // every count halves this often, so old hot keys fade
  std::uint32_t sample = 8;         // count one key access in this many, at random (1: all)
  std::uint32_t metrics_top_n = 0;  // sidecache_hotkey_* gauges for the N hottest; 0: none
  bool expose_names = false;        // metric labels name the keys (else a hash of each)
  // Read-through keys among this worker's N hottest are reloaded when a hit finds at most
  // refresh_ahead of their policy's TTL left (deterministic, beside XFetch); 0: off.
  std::uint32_t refresh_top = 0;
  double refresh_ahead = 0.2;
  bool operator==(const HotKeysConfig&) const = default;
};

// near_cache.promote_hot: keys hotter than min_rate (requests per second, as hot-key
// detection estimates it) are admitted to the L1 without a pattern, each registered as a
// BCAST prefix of its own on every tracking connection. Needs hotkeys.enabled.
struct PromoteHotConfig {
  bool enabled = false;
  double min_rate = 1000;
  std::uint32_t max_keys = 1024;  // keys registered at most (until a reload)
  bool operator==(const PromoteHotConfig&) const = default;
};

// The near cache (nearcache/, cache/near_step): an L1 in the process for GET / MGET of keys
// matching `patterns`, kept coherent by one CLIENT TRACKING BCAST connection per node.
struct NearCacheConfig {
  bool enabled = false;
  std::vector<std::string> patterns;       // globs; only matching keys use the L1
  std::uint64_t max_memory = 64ull << 20;  // bytes, everything the L1 holds
  Millis max_ttl{10000};                   // no entry lives longer (nor past its Redis TTL)
  std::uint32_t shards = 16;               // a power of two
  // The tracking connections write a marker key this often and time its invalidation push
  // (sidecache_l1_invalidation_lag_seconds); 0: off.
  Millis lag_probe_interval{1000};
  PromoteHotConfig promote_hot;
  bool operator==(const NearCacheConfig&) const = default;
};

// The database the cache loads from (db/). SQLite is the embedded default.
enum class DatabaseKind { kSqlite, kPostgres, kMysql };

// "SQLite", "PostgreSQL", "MySQL" (logs).
const char* to_string(DatabaseKind kind);

struct DatabaseConfig {
  DatabaseKind kind = DatabaseKind::kSqlite;
  std::string path;                 // SQLite: the database file
  std::string conninfo;             // PostgreSQL: a libpq connection string
  std::string host;                 // MySQL / MariaDB: server host (TCP), default 127.0.0.1
  std::uint16_t port = 0;           // MySQL: TCP port (0: 3306)
  std::string socket;               // MySQL: a Unix socket path instead of host/port
  std::string user;                 // MySQL: account name
  std::string dbname;               // MySQL: the default database (schema)
  SecretSource password;            // MySQL: the account's password (file, env or literal)
  std::uint32_t pool_size = 4;      // connections, each on its own database thread
  std::uint32_t max_queue = 10000;  // calls waiting for a database thread; more fail at once
  Millis query_timeout{1000};       // a query running longer is cancelled
  Millis connect_timeout{1000};
};

// How a row becomes the cached value.
enum class ValueMapping {
  kColumn,  // one column's value is the string value
  kJson,    // the row as a JSON object string
  kHash,    // the columns are the fields of a Redis hash
};

// Warming: keys loaded when the policy is (re)loaded.
struct WarmConfig {
  std::vector<std::string> ids;    // ids (the part matched by '*')
  std::string query;               // or a query returning ids in its first column
  std::uint32_t concurrency = 4;   // batches in flight at once
  std::uint32_t batch_size = 100;  // ids per database call
};

// Whether a read-through read asks for its lease in the same round trip (CachePolicy).
enum class LeaseInRead { kNever, kAuto, kAlways };

// How writes (SET, HSET, INCR, DEL, ...) to a policy key reach the database (write/, see
// docs/write-modes.md).
enum class WriteMode {
  kNone,        // Redis only; the application writes the database itself
  kInvalidate,  // database upsert, then DEL of the cache key
  kThrough,     // database first, then the cache (DEL when the cache write fails)
  kBehind,      // the cache and a durable queue entry (a Redis Stream) in one MULTI/EXEC;
                // flushers write the database later, in batches
};

// What a write-behind write does when its queue holds queue_max writes.
enum class OnFull {
  kError,  // answer an error at once
  kSlow,   // wait (up to slow_wait) for room, then answer an error
};

// cache.write_behind: the queue-wide write-behind options. Every behind policy shares one
// stream per node and its flusher, so batching, backoff and takeover are set once.
struct WriteBehindQueueConfig {
  std::uint32_t batch_size = 500;  // writes per database transaction at most
  Millis flush_interval{100};      // a partial batch is written after this long
  Millis backoff_min{100};         // retry delay after the first failure ...
  Millis backoff_max{10000};       // ... doubling (with jitter) up to this
  Millis claim_idle{30000};        // lease TTL; entries pending this long on a dead flusher move
};

// A behind policy's own write-behind options (`write_behind:` of the policy).
struct WriteBehindConfig {
  bool coalesce = true;              // only the last value of a key within a batch is written
  std::uint32_t max_retries = 5;     // rejected batches: tries before entries go dead-letter
  std::uint64_t queue_max = 100000;  // writes queued per node; more: back-pressure
  OnFull on_full = OnFull::kError;
  Millis slow_wait{2000};   // on_full slow: how long a write waits for room
  bool dead_letter = true;  // rejected entries go to a dead-letter stream (else: dropped, logged)
};

// One read-through policy (cache/): keys matching `match` are loaded from the database.
struct CachePolicy {
  std::string name;   // for metrics and logs; defaults to the match pattern
  std::string match;  // "product:*": the text in place of '*' is the id
  std::string where;  // "file:line" of the policy, for errors found after parsing
  std::string table;  // source: table + key_column (+ columns) ...
  std::string key_column;
  std::vector<std::string> columns;
  std::string query;  // ... or a parameterised query returning at most one row
  ValueMapping mapping = ValueMapping::kColumn;
  std::string value_column;     // kColumn: which column (default: the only non-key column)
  bool json_typed = true;       // kJson: columns as their database types (false: all strings)
  std::optional<Millis> ttl;    // unset: from the TTL rules
  double ttl_jitter = 0.1;      // +- this share of the TTL, at random per key
  Millis negative_ttl{30000};   // absent rows are remembered this long; 0: not at all
  Millis load_timeout{2000};    // a miss waits this long for its load, then errors
  Millis load_batch_window{0};  // misses within this window share one query; 0: off
  std::uint32_t load_batch_max = 100;  // keys in one such query at most
  bool lease = false;                  // a Redis lease so one sidecache of many loads a key
  Millis lease_ttl{2000};
  Millis lease_wait{1000};  // how long others wait for the leaseholder's value
  // Policies with a lease (or a negative marker beside the key): whether the read itself asks
  // for the lease (strings: SET .. NX GET; markers beside the key: EXISTS + SET NX pipelined
  // with it), so a miss costs one Redis round trip before the database instead of two.
  // kAuto: unless the key hit on this worker and its value should still be there
  // (cache/recent_hits.hpp); kAlways: every read (each hit costs Redis more); kNever.
  LeaseInRead lease_in_read = LeaseInRead::kAuto;
  double xfetch_beta = 1.0;  // early refresh (XFetch); 0 turns it off
  Millis stale_while_revalidate{0};
  Millis stale_if_error{0};
  std::optional<WarmConfig> warm;
  WriteMode write = WriteMode::kNone;  // needs a table source
  bool delete_row_on_del = false;      // DEL/UNLINK also deletes the row (write != none)
  // The near cache (L1) serves this policy's reads (GET; hashes: HGET, HMGET, HGETALL, HEXISTS,
  // HLEN) and keeps what read-through returns; needs near_cache.enabled.
  bool l1 = false;
  WriteBehindConfig write_behind;  // write: behind
};

// The tutorial's TTL manager: a TTL per kind of key, by pattern; the first match wins.
struct TtlRule {
  std::string match;
  Millis ttl{0};
};

struct CacheConfig {
  std::optional<DatabaseConfig> database;  // required when there are policies
  std::vector<CachePolicy> policies;
  std::vector<TtlRule> ttl_rules;
  Millis default_ttl{300000};
  bool ready_waits_for_warming = false;  // /readyz answers 503 until warming is done
  // PostgreSQL LISTEN/NOTIFY channel whose payloads are cache keys to delete; empty: off.
  std::string invalidation_channel;
  WriteBehindQueueConfig write_behind;  // queue-wide options of every behind policy
};

struct Config {
  std::string source;  // file the config came from (for messages)
  std::string digest;  // FNV-1a 64 of the file's bytes, 16 hex digits (sidecache_config_info)
  // Things that are valid but probably not meant ("file:line:col: message"): printed by
  // --check-config, logged at warn when the file is loaded or reloaded.
  std::vector<std::string> warnings;
  // "file:line:col" of the keys that startup errors name ("listen", "http.listen"), if present.
  std::map<std::string, std::string, std::less<>> origins;
  Endpoint listen{"127.0.0.1", 6380};
  std::uint32_t workers = 0;  // 0: the cores the process may use (cgroup CPU limit)
  PoolConfig pool;
  LimitsConfig limits;
  LoggingConfig logging;
  ProcessConfig process;
  std::optional<HttpConfig> http;  // absent: no HTTP endpoint
  CacheConfig cache;
  CommandsConfig commands;
  AuthConfig auth;
  std::shared_ptr<const Acl> acl;             // built from `auth` at load; null when auth is off
  std::optional<TlsListenConfig> listen_tls;  // absent: no TLS listener
  HotKeysConfig hotkeys;
  NearCacheConfig near_cache;
};

struct LoadOptions {
  // Look up node host names now and warn (not fail: DNS may come later) when one does not
  // resolve. Off for callers that must not block on DNS or depend on it (tests, fuzzing).
  bool resolve_nodes = false;
};

// Reads, parses and validates. Throws ConfigError ("file:line:col: message").
Config load_file(const std::string& path, const LoadOptions& options = {});
// Same for YAML text; `source` names it in messages.
Config load_string(std::string_view yaml, const std::string& source,
                   const LoadOptions& options = {});

// "host:port" / "[v6]:port" -> Endpoint; throws std::invalid_argument with a reason.
Endpoint parse_endpoint(std::string_view text);
// Endpoint -> "host:port", or "[v6]:port" when the host holds a ':'.
std::string format_endpoint(const Endpoint& endpoint);

// "500ms", "2s", "1m" (case-insensitive) or a bare integer of milliseconds; overflow-checked.
// Throws std::invalid_argument with a reason.
Millis parse_duration(std::string_view text);
// "100b", "64kb", "512mb", "1gb" (1024-based, case-insensitive) or a bare integer of bytes;
// overflow-checked. Throws std::invalid_argument with a reason.
std::uint64_t parse_size(std::string_view text);

}  // namespace sidecache::config
