// The `cache:` section: the database and the read-through policies (see docs/caching.md).
// Checks that need the database itself (does the table exist?) happen at startup, in cache/.
#include <filesystem>
#include <string>

#include "config/config.hpp"
#include "config/reader.hpp"

namespace sidecache::config::detail {
namespace {

constexpr Millis::rep kMaxTimeoutMs = 10 * 60 * 1000;        // 10m
constexpr Millis::rep kMaxTtlMs = 365LL * 24 * 3600 * 1000;  // a year

// Table and column names are quoted in SQL, but kept to plain identifiers so that a typo or
// an injection attempt in the config is caught here rather than by the database.
bool is_identifier(std::string_view name) {
  if (name.empty()) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.';
    if (!ok) return false;
  }
  return !(name.front() >= '0' && name.front() <= '9');
}

std::string identifier(const Value& value) {
  auto name = value.non_empty();
  if (!is_identifier(name)) {
    value.fail("'" + name + "' is not a plain identifier (letters, digits, '_', '.')");
  }
  return name;
}

std::string position(const Value& value) {
  return value.locations().source() + ":" + std::to_string(value.mark().line + 1);
}

// A key pattern with exactly one '*', which stands for the id.
std::string pattern(const Value& value) {
  auto text = value.non_empty();
  const auto star = text.find('*');
  if (star == std::string::npos || text.find('*', star + 1) != std::string::npos) {
    value.fail("'" + text + "' must contain exactly one '*' (it stands for the id)");
  }
  return text;
}

void read_kind(DatabaseConfig& db, const Value& value) {
  static constexpr std::string_view kKinds[] = {"sqlite", "postgres", "mysql"};
  const std::string kind = value.one_of(kKinds);
  db.kind = kind == "postgres" ? DatabaseKind::kPostgres
            : kind == "mysql"  ? DatabaseKind::kMysql
                               : DatabaseKind::kSqlite;
}

// A relative SQLite path is relative to the config file, so `-c` from any directory works.
void read_path(DatabaseConfig& db, const Value& value) {
  const std::filesystem::path path(value.non_empty());
  const std::filesystem::path source(value.locations().source());
  db.path = path.is_absolute() || !source.has_parent_path()
                ? path.string()
                : (source.parent_path() / path).string();
}

constexpr Directive<DatabaseConfig> kDatabaseDirectives[] = {
    {"type", read_kind, "sqlite (embedded default), postgres or mysql (MySQL / MariaDB)"},
    {"path", read_path, "SQLite: database file (relative to this config file)"},
    {"conninfo", read_string<&DatabaseConfig::conninfo>,
     "PostgreSQL: libpq connection string, e.g. \"host=127.0.0.1 dbname=app\""},
    {"host", read_string<&DatabaseConfig::host>, "MySQL: server host name or address (127.0.0.1)"},
    {"port", read_integer<&DatabaseConfig::port, 1, 65535>, "MySQL: TCP port (3306)"},
    {"socket", read_string<&DatabaseConfig::socket>,
     "MySQL: Unix socket path instead of host/port"},
    {"user", read_string<&DatabaseConfig::user>, "MySQL: account name"},
    {"database", read_string<&DatabaseConfig::dbname>, "MySQL: the database (schema) to use"},
    {"password", read_secret<&DatabaseConfig::password, SecretSource::Kind::kLiteral>,
     "MySQL: password in the config file (prefer password_file or password_env)"},
    {"password_file", read_secret<&DatabaseConfig::password, SecretSource::Kind::kFile>,
     "MySQL: file holding the password, re-read at every connect"},
    {"password_env", read_secret<&DatabaseConfig::password, SecretSource::Kind::kEnv>,
     "MySQL: environment variable holding the password"},
    {"pool_size", read_integer<&DatabaseConfig::pool_size, 1, 256>,
     "database connections, each on its own thread"},
    {"max_queue", read_integer<&DatabaseConfig::max_queue, 1, 1u << 24>,
     "database calls waiting for a connection; more fail at once"},
    {"query_timeout", read_duration<&DatabaseConfig::query_timeout, 1, kMaxTimeoutMs>,
     "a query running longer is cancelled"},
    {"connect_timeout", read_duration<&DatabaseConfig::connect_timeout, 1, kMaxTimeoutMs>,
     "time allowed to connect to the database"},
};

void read_ids(WarmConfig& warm, const Value& value) {
  value.expect_sequence();
  std::size_t index = 0;
  for (const auto& item : value.node()) warm.ids.push_back(value.item(item, index++).scalar());
}

constexpr Directive<WarmConfig> kWarmDirectives[] = {
    {"ids", read_ids, "ids to load (the part of the key in place of '*')"},
    {"query", read_string<&WarmConfig::query>, "or a query whose first column gives the ids"},
    {"concurrency", read_integer<&WarmConfig::concurrency, 1, 64>,
     "database calls in flight at once while warming"},
    {"batch_size", read_integer<&WarmConfig::batch_size, 1, 10000>, "ids per database call"},
};

void read_match(CachePolicy& policy, const Value& value) { policy.match = pattern(value); }
void read_table(CachePolicy& policy, const Value& value) { policy.table = identifier(value); }
void read_key_column(CachePolicy& policy, const Value& value) {
  policy.key_column = identifier(value);
}
void read_value_column(CachePolicy& policy, const Value& value) {
  policy.value_column = identifier(value);
}

void read_columns(CachePolicy& policy, const Value& value) {
  value.expect_sequence();
  std::size_t index = 0;
  for (const auto& item : value.node()) {
    policy.columns.push_back(identifier(value.item(item, index++)));
  }
  if (policy.columns.empty()) value.fail("must list at least one column (or be left out)");
}

void read_mapping(CachePolicy& policy, const Value& value) {
  static constexpr std::string_view kMappings[] = {"column", "json", "hash"};
  const auto name = value.one_of(kMappings);
  policy.mapping = name == "json"   ? ValueMapping::kJson
                   : name == "hash" ? ValueMapping::kHash
                                    : ValueMapping::kColumn;
}

void read_json_types(CachePolicy& policy, const Value& value) {
  static constexpr std::string_view kForms[] = {"typed", "text"};
  policy.json_typed = value.one_of(kForms) == "typed";
}

void read_ttl(CachePolicy& policy, const Value& value) {
  policy.ttl = value.duration(Millis(1000), Millis(kMaxTtlMs));
}

void read_jitter(CachePolicy& policy, const Value& value) {
  policy.ttl_jitter = value.real(0.0, 0.5);
}

void read_beta(CachePolicy& policy, const Value& value) {
  policy.xfetch_beta = value.real(0.0, 100.0);
}

void read_warm(CachePolicy& policy, const Value& value) {
  policy.warm.emplace();
  read_section(value, kWarmDirectives, *policy.warm);
  if (policy.warm->ids.empty() == policy.warm->query.empty()) {
    value.fail("needs exactly one of 'ids' or 'query'");
  }
}

void read_write_mode(CachePolicy& policy, const Value& value) {
  static constexpr std::string_view kModes[] = {"none", "invalidate", "through", "behind"};
  const auto name = value.one_of(kModes);
  policy.write = name == "invalidate" ? WriteMode::kInvalidate
                 : name == "through"  ? WriteMode::kThrough
                 : name == "behind"   ? WriteMode::kBehind
                                      : WriteMode::kNone;
}

void read_lease_in_read(CachePolicy& policy, const Value& value) {
  static constexpr std::string_view kChoices[] = {"auto", "true", "false"};
  const auto name = value.one_of(kChoices);
  policy.lease_in_read = name == "true"    ? LeaseInRead::kAlways
                         : name == "false" ? LeaseInRead::kNever
                                           : LeaseInRead::kAuto;
}

void read_on_full(WriteBehindConfig& behind, const Value& value) {
  static constexpr std::string_view kChoices[] = {"error", "slow"};
  behind.on_full = value.one_of(kChoices) == "slow" ? OnFull::kSlow : OnFull::kError;
}

// A queue-wide key under a policy's write_behind: it moved to cache.write_behind.
void moved_to_cache(WriteBehindConfig&, const Value& value) {
  const auto key = value.path().substr(value.path().rfind('.') + 1);
  value.fail(
      "is queue-wide (every behind policy shares one queue per node): set it in "
      "cache.write_behind: {" +
      key + ": ...}");
}

constexpr Directive<WriteBehindConfig> kWriteBehindDirectives[] = {
    {"coalesce", read_boolean<&WriteBehindConfig::coalesce>,
     "write only the last value of a key within a batch"},
    {"max_retries", read_integer<&WriteBehindConfig::max_retries, 0, 1000>,
     "tries of a batch the database rejects before its entries go dead-letter"},
    {"queue_max", read_integer<&WriteBehindConfig::queue_max, 1, 1ull << 40>,
     "writes queued per node before back-pressure"},
    {"on_full", read_on_full, "a write to a full queue: error (at once) or slow (wait for room)"},
    {"slow_wait", read_duration<&WriteBehindConfig::slow_wait, 1, kMaxTimeoutMs>,
     "on_full slow: how long a write waits for room before its error"},
    {"dead_letter", read_boolean<&WriteBehindConfig::dead_letter>,
     "entries the database rejects go to a dead-letter stream (else dropped, logged)"},
    {"batch_size", moved_to_cache, "queue-wide: set in cache.write_behind"},
    {"flush_interval", moved_to_cache, "queue-wide: set in cache.write_behind"},
    {"backoff_min", moved_to_cache, "queue-wide: set in cache.write_behind"},
    {"backoff_max", moved_to_cache, "queue-wide: set in cache.write_behind"},
    {"claim_idle", moved_to_cache, "queue-wide: set in cache.write_behind"},
};

void read_write_behind(CachePolicy& policy, const Value& value) {
  read_section(value, kWriteBehindDirectives, policy.write_behind);
}

// A per-policy key under cache.write_behind.
void per_policy(WriteBehindQueueConfig&, const Value& value) {
  value.fail("is set per policy: in the write_behind of each behind policy");
}

constexpr Directive<WriteBehindQueueConfig> kQueueDirectives[] = {
    {"batch_size", read_integer<&WriteBehindQueueConfig::batch_size, 1, 100000>,
     "writes per database transaction at most"},
    {"flush_interval", read_duration<&WriteBehindQueueConfig::flush_interval, 1, kMaxTimeoutMs>,
     "a partial batch is written after this long"},
    {"backoff_min", read_duration<&WriteBehindQueueConfig::backoff_min, 1, kMaxTimeoutMs>,
     "retry delay after the first failure"},
    {"backoff_max", read_duration<&WriteBehindQueueConfig::backoff_max, 1, kMaxTimeoutMs>,
     "the retry delay doubles (with jitter) up to this"},
    {"claim_idle", read_duration<&WriteBehindQueueConfig::claim_idle, 100, kMaxTimeoutMs>,
     "flusher lease TTL; entries a dead flusher left pending this long are taken over"},
    {"coalesce", per_policy, "per policy: set in the policy's write_behind"},
    {"max_retries", per_policy, "per policy: set in the policy's write_behind"},
    {"queue_max", per_policy, "per policy: set in the policy's write_behind"},
    {"on_full", per_policy, "per policy: set in the policy's write_behind"},
    {"slow_wait", per_policy, "per policy: set in the policy's write_behind"},
    {"dead_letter", per_policy, "per policy: set in the policy's write_behind"},
};

void read_queue(CacheConfig& cache, const Value& value) {
  read_section(value, kQueueDirectives, cache.write_behind);
  if (cache.write_behind.backoff_min > cache.write_behind.backoff_max) {
    value.fail("backoff_min must not be above backoff_max");
  }
}

constexpr Directive<CachePolicy> kPolicyDirectives[] = {
    {"name", read_string<&CachePolicy::name>, "label in metrics and logs (default: match)"},
    {"match", read_match, "key pattern with one '*' for the id, e.g. \"product:*\" (required)"},
    {"table", read_table, "source table (with key_column), or use 'query'"},
    {"key_column", read_key_column, "the column the id is compared with"},
    {"columns", read_columns, "columns to read (default: all)"},
    {"query", read_string<&CachePolicy::query>,
     "or a query with one parameter ($1 / ?) returning at most one row"},
    {"mapping", read_mapping, "column (one column's value), json (the row), hash (fields)"},
    {"value_column", read_value_column, "mapping column: which column is the value"},
    {"json_types", read_json_types,
     "mapping json: typed (numbers, booleans, nested JSON as the database types them) or text"},
    {"ttl", read_ttl, "cache TTL (default: from ttl_rules, else default_ttl)"},
    {"ttl_jitter", read_jitter, "random +- share of the TTL per key (0..0.5), default 0.1"},
    {"negative_ttl", read_duration<&CachePolicy::negative_ttl, 0, kMaxTtlMs>,
     "remember absent rows this long; 0 never"},
    {"load_timeout", read_duration<&CachePolicy::load_timeout, 1, kMaxTimeoutMs>,
     "a miss waits this long for its load, then gets an error"},
    {"load_batch_window", read_duration<&CachePolicy::load_batch_window, 0, 1000>,
     "misses of different keys within this window share one database query; 0 off"},
    {"load_batch_max", read_integer<&CachePolicy::load_batch_max, 1, 500>,
     "keys in one batched query at most"},
    {"lease", read_boolean<&CachePolicy::lease>,
     "take a Redis lease so that one sidecache of many loads a key"},
    {"lease_ttl", read_duration<&CachePolicy::lease_ttl, 10, kMaxTimeoutMs>,
     "how long a lease holds"},
    {"lease_wait", read_duration<&CachePolicy::lease_wait, 0, kMaxTimeoutMs>,
     "how long others wait for the leaseholder's value before loading themselves"},
    {"lease_in_read", read_lease_in_read,
     "auto, true or false: the read also asks for the lease, so a miss saves a round trip "
     "(auto: unless the key recently hit here; true: every read, each hit costs Redis more)"},
    {"xfetch_beta", read_beta, "early refresh eagerness (XFetch beta); 0 turns it off"},
    {"stale_while_revalidate", read_duration<&CachePolicy::stale_while_revalidate, 0, kMaxTtlMs>,
     "after expiry, answer the stale value this long while refreshing"},
    {"stale_if_error", read_duration<&CachePolicy::stale_if_error, 0, kMaxTtlMs>,
     "when the database fails, answer values expired up to this long ago"},
    {"warm", read_warm, "keys to load at startup and reload: {ids | query}"},
    {"write", read_write_mode,
     "writes to policy keys: none (Redis only), invalidate, through or behind"},
    {"delete_row_on_del", read_boolean<&CachePolicy::delete_row_on_del>,
     "DEL/UNLINK of a policy key also deletes its row"},
    {"l1", read_boolean<&CachePolicy::l1>,
     "serve this policy's reads from the near cache (needs near_cache.enabled: true)"},
    {"write_behind", read_write_behind,
     "write: behind options of this policy: {coalesce, max_retries, queue_max, on_full, ...}"},
};

// Checks within one policy, at the policy's position.
void check_policy(CachePolicy& policy, const Value& value) {
  if (policy.match.empty()) value.fail("missing required key 'match'");
  if (policy.name.empty()) policy.name = policy.match;
  const bool by_table = !policy.table.empty();
  const bool by_query = !policy.query.empty();
  if (by_table == by_query) value.fail("needs a source: either 'table' + 'key_column' or 'query'");
  if (by_table && policy.key_column.empty()) value.fail("'table' needs 'key_column'");
  if (by_query && !policy.key_column.empty()) {
    value.fail("'key_column' is for a 'table' source; a 'query' takes the id as its parameter");
  }
  if (policy.mapping == ValueMapping::kColumn && policy.value_column.empty()) {
    if (policy.columns.size() != 1) {
      value.fail("mapping 'column' needs 'value_column' (or exactly one entry in 'columns')");
    }
    policy.value_column = policy.columns.front();
  }
  if (policy.mapping != ValueMapping::kColumn && !policy.value_column.empty()) {
    value.fail("'value_column' applies to mapping 'column' only");
  }
  if (policy.lease && policy.lease_wait >= policy.load_timeout) {
    value.fail("lease_wait must be shorter than load_timeout, or waiting clients time out first");
  }
  if (policy.load_batch_window >= policy.load_timeout) {
    value.fail("load_batch_window must be shorter than load_timeout");
  }
  if (policy.write != WriteMode::kNone) {
    if (!by_table) value.fail("'write' needs a 'table' + 'key_column' source (not a 'query')");
  } else if (policy.delete_row_on_del) {
    value.fail("'delete_row_on_del' needs a 'write' mode");
  }
  if (policy.write != WriteMode::kBehind && value.node()["write_behind"]) {
    value.fail("'write_behind' applies to write: behind only");
  }
  policy.where = position(value);
}

void read_policies(CacheConfig& cache, const Value& value) {
  value.expect_sequence();
  std::size_t index = 0;
  for (const auto& item : value.node()) {
    const Value entry = value.item(item, index++);
    CachePolicy policy;
    read_section(entry, kPolicyDirectives, policy);
    check_policy(policy, entry);
    for (const auto& other : cache.policies) {
      if (other.match == policy.match) {
        entry.fail("duplicate match '" + policy.match + "' (also at " + other.where + ")");
      }
      if (other.name == policy.name) {
        entry.fail("duplicate policy name '" + policy.name + "' (also at " + other.where + ")");
      }
    }
    cache.policies.push_back(std::move(policy));
  }
}

void read_rule_match(TtlRule& rule, const Value& value) { rule.match = pattern(value); }

constexpr Directive<TtlRule> kRuleDirectives[] = {
    {"match", read_rule_match, "key pattern with one '*', e.g. \"session:*\""},
    {"ttl", read_duration<&TtlRule::ttl, 1000, kMaxTtlMs>, "the TTL of keys it matches"},
};

void read_rules(CacheConfig& cache, const Value& value) {
  value.expect_sequence();
  std::size_t index = 0;
  for (const auto& item : value.node()) {
    const Value entry = value.item(item, index++);
    TtlRule rule;
    read_section(entry, kRuleDirectives, rule);
    if (rule.match.empty() || rule.ttl.count() == 0) entry.fail("needs 'match' and 'ttl'");
    cache.ttl_rules.push_back(std::move(rule));
  }
}

// Keys that belong to another database type are errors, not silently ignored.
void check_database_keys(const DatabaseConfig& db, const Value& value) {
  const bool mysql = db.kind == DatabaseKind::kMysql;
  if (db.kind != DatabaseKind::kSqlite && !db.path.empty()) value.fail("'path' is for type sqlite");
  if (db.kind != DatabaseKind::kPostgres && !db.conninfo.empty()) {
    value.fail("'conninfo' is for type postgres");
  }
  const std::pair<bool, const char*> mysql_keys[] = {
      {!db.host.empty(), "host"},       {db.port != 0, "port"},
      {!db.socket.empty(), "socket"},   {!db.user.empty(), "user"},
      {!db.dbname.empty(), "database"}, {!db.password.empty(), "password"}};
  for (const auto& [set, key] : mysql_keys) {
    if (set && !mysql) value.fail(std::string("'") + key + "' is for type mysql");
  }
}

void read_database(CacheConfig& cache, const Value& value) {
  cache.database.emplace();
  auto& db = *cache.database;
  read_section(value, kDatabaseDirectives, db);
  if (db.kind == DatabaseKind::kSqlite && db.path.empty()) {
    value.fail("type sqlite needs 'path'");
  }
  if (db.kind == DatabaseKind::kPostgres && db.conninfo.empty()) {
    value.fail("type postgres needs 'conninfo'");
  }
  if (db.kind == DatabaseKind::kMysql && (db.user.empty() || db.dbname.empty())) {
    value.fail("type mysql needs 'user' and 'database'");
  }
  check_database_keys(db, value);
  if (db.kind == DatabaseKind::kMysql && !db.socket.empty() && (!db.host.empty() || db.port != 0)) {
    value.fail("type mysql takes 'socket' or 'host'/'port', not both");
  }
}

void read_channel(CacheConfig& cache, const Value& value) {
  cache.invalidation_channel = identifier(value);
}

constexpr Directive<CacheConfig> kCacheDirectives[] = {
    {"database", read_database,
     "the database policies load from: {type, path | conninfo | host/user/database, ...}"},
    {"policies", read_policies, "read-through policies, first match wins"},
    {"ttl_rules", read_rules, "TTL per kind of key [{match, ttl}], first match wins"},
    {"default_ttl", read_duration<&CacheConfig::default_ttl, 1000, kMaxTtlMs>,
     "TTL of policies without one and no matching rule"},
    {"ready_waits_for_warming", read_boolean<&CacheConfig::ready_waits_for_warming>,
     "/readyz answers 503 until warming has finished"},
    {"invalidation_channel", read_channel,
     "PostgreSQL LISTEN channel whose payloads are cache keys to delete"},
    {"write_behind", read_queue,
     "write-behind queue of every behind policy: {batch_size, flush_interval, backoff_min, "
     "backoff_max, claim_idle}"},
};

}  // namespace

void read_cache(Config& config, const Value& value) {
  read_section(value, kCacheDirectives, config.cache);
  if (!config.cache.policies.empty() && !config.cache.database) {
    value.fail("policies need a 'database'");
  }
  if (!config.cache.invalidation_channel.empty() &&
      (!config.cache.database || config.cache.database->kind != DatabaseKind::kPostgres)) {
    value.fail("'invalidation_channel' needs a postgres database");
  }
}

}  // namespace sidecache::config::detail
