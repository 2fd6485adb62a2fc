// The `cache:` section: database, policies and TTL rules, with their defaults and checks.
#include <catch2/catch.hpp>
#include <string>

#include "config/config.hpp"
#include "error_of.hpp"

namespace sidecache::config {
namespace {

using namespace std::chrono_literals;
using testing::error_of;

const std::string kNodes = "pool:\n  nodes: [127.0.0.1:7001:1]\n";
const std::string kDb = "cache:\n  database: {type: sqlite, path: app.db}\n";

TEST_CASE("no cache section: no policies, no database", "[config][cache]") {
  const auto config = load_string(kNodes, "t.yaml");
  CHECK_FALSE(config.cache.database.has_value());
  CHECK(config.cache.policies.empty());
  CHECK(config.cache.default_ttl == 5min);
}

TEST_CASE("a full cache section is read", "[config][cache]") {
  const auto config = load_string(kNodes + R"(
cache:
  database:
    type: postgres
    conninfo: "host=127.0.0.1 port=5432 dbname=app"
    pool_size: 8
    max_queue: 100
    query_timeout: 250ms
    connect_timeout: 2s
  default_ttl: 10m
  ready_waits_for_warming: true
  ttl_rules:
    - {match: "session:*", ttl: 24h}
    - {match: "user:*", ttl: 30m}
  policies:
    - name: products
      match: "product:*"
      table: products
      key_column: id
      columns: [name, price]
      mapping: json
      ttl: 1m
      ttl_jitter: 0.2
      negative_ttl: 5s
      load_timeout: 3s
      lease: true
      lease_ttl: 1s
      lease_wait: 500ms
      lease_in_read: true
      xfetch_beta: 2.5
      stale_while_revalidate: 10s
      stale_if_error: 1h
      warm: {query: "SELECT id FROM products ORDER BY sales DESC LIMIT 1000", concurrency: 2}
    - match: "user:*"
      query: "SELECT name FROM users WHERE id = $1"
      value_column: name
)",
                                  "t.yaml");
  const auto& cache = config.cache;
  REQUIRE(cache.database.has_value());
  CHECK(cache.database->kind == DatabaseKind::kPostgres);
  CHECK(cache.database->conninfo == "host=127.0.0.1 port=5432 dbname=app");
  CHECK(cache.database->pool_size == 8);
  CHECK(cache.database->max_queue == 100);
  CHECK(cache.database->query_timeout == 250ms);
  CHECK(cache.database->connect_timeout == 2s);
  CHECK(cache.default_ttl == 10min);
  CHECK(cache.ready_waits_for_warming);
  REQUIRE(cache.ttl_rules.size() == 2);
  CHECK(cache.ttl_rules[0].match == "session:*");
  CHECK(cache.ttl_rules[0].ttl == 24h);
  REQUIRE(cache.policies.size() == 2);
  const auto& p = cache.policies[0];
  CHECK(p.name == "products");
  CHECK(p.match == "product:*");
  CHECK(p.where == "t.yaml:18");
  CHECK(p.table == "products");
  CHECK(p.key_column == "id");
  CHECK(p.columns == std::vector<std::string>{"name", "price"});
  CHECK(p.mapping == ValueMapping::kJson);
  CHECK(p.ttl == 1min);
  CHECK(p.ttl_jitter == Approx(0.2));
  CHECK(p.negative_ttl == 5s);
  CHECK(p.load_timeout == 3s);
  CHECK(p.lease);
  CHECK(p.lease_ttl == 1s);
  CHECK(p.lease_wait == 500ms);
  CHECK(p.lease_in_read == sidecache::config::LeaseInRead::kAlways);
  CHECK(p.xfetch_beta == Approx(2.5));
  CHECK(p.stale_while_revalidate == 10s);
  CHECK(p.stale_if_error == 1h);
  REQUIRE(p.warm.has_value());
  CHECK(p.warm->concurrency == 2);
  CHECK(p.warm->batch_size == 100);
  const auto& u = cache.policies[1];
  CHECK(u.name == "user:*");  // the pattern names an unnamed policy
  CHECK(u.mapping == ValueMapping::kColumn);
  CHECK(u.value_column == "name");
  CHECK_FALSE(u.ttl.has_value());  // from the TTL rules, at startup
  CHECK(u.xfetch_beta == Approx(1.0));
  CHECK(u.lease_in_read == sidecache::config::LeaseInRead::kAuto);  // the default
}

TEST_CASE("a MySQL database section is read", "[config][cache][mysql]") {
  const auto config = load_string(kNodes + R"(
cache:
  database:
    type: mysql
    host: db.internal
    port: 3307
    user: app
    database: shop
    password_env: MYSQL_PASSWORD
    query_timeout: 300ms
)",
                                  "t.yaml");
  const auto& db = *config.cache.database;
  CHECK(db.kind == DatabaseKind::kMysql);
  CHECK(db.host == "db.internal");
  CHECK(db.port == 3307);
  CHECK(db.user == "app");
  CHECK(db.dbname == "shop");
  CHECK(db.password.kind == SecretSource::Kind::kEnv);
  CHECK(db.password.value == "MYSQL_PASSWORD");
  CHECK(db.password.where == "t.yaml:11:19");
  CHECK(db.query_timeout == 300ms);
  CHECK(config.warnings.empty());  // an unset variable is a connect error, not a config one

  const auto socket = load_string(
      kNodes + "cache:\n  database: {type: mysql, socket: /run/m.sock, user: u, database: d}\n",
      "t.yaml");
  CHECK(socket.cache.database->socket == "/run/m.sock");
  CHECK(socket.cache.database->host.empty());
  CHECK(socket.cache.database->port == 0);  // the adapter's 3306

  const auto literal = load_string(
      kNodes + "cache:\n  database: {type: mysql, user: u, database: d, password: pw}\n", "t.yaml");
  CHECK(literal.cache.database->password.value == "pw");
  CHECK(literal.warnings.size() == 1);
}

TEST_CASE("MySQL database errors point at the section", "[config][cache][mysql]") {
  CHECK(error_of(kNodes + "cache:\n  database: {type: mysql, user: u}\n") ==
        "t.yaml:4:13: cache.database: type mysql needs 'user' and 'database'");
  CHECK(error_of(kNodes + "cache:\n  database: {type: postgres, conninfo: x, host: h}\n") ==
        "t.yaml:4:13: cache.database: 'host' is for type mysql");
  CHECK(error_of(kNodes + "cache:\n  database: {type: sqlite, path: a, password_file: f}\n") ==
        "t.yaml:4:13: cache.database: 'password' is for type mysql");
  CHECK(
      error_of(kNodes + "cache:\n  database: {type: mysql, user: u, database: d, conninfo: c}\n") ==
      "t.yaml:4:13: cache.database: 'conninfo' is for type postgres");
  CHECK(error_of(kNodes +
                 "cache:\n  database: {type: mysql, user: u, database: d, socket: s, port: 1}\n") ==
        "t.yaml:4:13: cache.database: type mysql takes 'socket' or 'host'/'port', not both");
  CHECK(error_of(kNodes + "cache:\n  database: {type: mysql, user: u, database: d, port: 0}\n") ==
        "t.yaml:4:55: cache.database.port: 0 is out of range (1..65535)");
  CHECK_THAT(error_of(kNodes + "cache:\n  database: {type: mysql, user: u, database: d, "
                               "password: a, password_env: B}\n"),
             Catch::Contains("not several"));
}

TEST_CASE("a relative SQLite path is relative to the config file", "[config][cache]") {
  const auto config = load_string(kNodes + kDb, "/etc/sidecache/sidecache.yaml");
  CHECK(config.cache.database->path == "/etc/sidecache/app.db");
  const auto absolute =
      load_string(kNodes + "cache:\n  database: {type: sqlite, path: /data/a.db}\n", "x/t.yaml");
  CHECK(absolute.cache.database->path == "/data/a.db");
}

TEST_CASE("a single listed column is the value of a column mapping", "[config][cache]") {
  const auto config = load_string(
      kNodes + kDb +
          "  policies:\n    - {match: \"p:*\", table: t, key_column: id, columns: [v]}\n",
      "t.yaml");
  CHECK(config.cache.policies[0].value_column == "v");
}

TEST_CASE("cache errors point at the key at fault", "[config][cache]") {
  const std::string policy = kNodes + kDb + "  policies:\n    - ";
  CHECK(
      error_of(kNodes + "cache:\n  policies:\n    - {match: \"p:*\", query: q, mapping: json}\n") ==
      "t.yaml:4:3: cache: policies need a 'database'");
  CHECK(error_of(kNodes + "cache:\n  database: {type: sqlite}\n") ==
        "t.yaml:4:13: cache.database: type sqlite needs 'path'");
  CHECK(error_of(kNodes + "cache:\n  database: {type: postgres, path: a}\n") ==
        "t.yaml:4:13: cache.database: type postgres needs 'conninfo'");
  CHECK(error_of(kNodes + "cache:\n  database: {type: oracle}\n") ==
        "t.yaml:4:20: cache.database.type: unknown value 'oracle' (expected one of: sqlite, "
        "postgres, mysql)");
  CHECK(error_of(policy + "{match: \"p:*:*\", query: q}\n") ==
        "t.yaml:6:15: cache.policies[0].match: 'p:*:*' must contain exactly one '*' (it stands "
        "for the id)");
  CHECK(error_of(policy + "{match: \"p:*\"}\n") ==
        "t.yaml:6:7: cache.policies[0]: needs a source: either 'table' + 'key_column' or 'query'");
  CHECK(error_of(policy + "{match: \"p:*\", table: t, query: q}\n") ==
        "t.yaml:6:7: cache.policies[0]: needs a source: either 'table' + 'key_column' or 'query'");
  CHECK(error_of(policy + "{match: \"p:*\", table: t}\n") ==
        "t.yaml:6:7: cache.policies[0]: 'table' needs 'key_column'");
  CHECK(error_of(policy + "{match: \"p:*\", table: \"t; drop\", key_column: id}\n") ==
        "t.yaml:6:29: cache.policies[0].table: 't; drop' is not a plain identifier (letters, "
        "digits, '_', '.')");
  CHECK(error_of(policy + "{match: \"p:*\", table: t, key_column: id}\n") ==
        "t.yaml:6:7: cache.policies[0]: mapping 'column' needs 'value_column' (or exactly one "
        "entry in 'columns')");
  CHECK(error_of(policy + "{match: \"p:*\", query: q, mapping: hash, value_column: v}\n") ==
        "t.yaml:6:7: cache.policies[0]: 'value_column' applies to mapping 'column' only");
  CHECK(error_of(policy + "{match: \"p:*\", query: q, mapping: json, ttl_jitter: 0.9}\n") ==
        "t.yaml:6:59: cache.policies[0].ttl_jitter: 0.9 is out of range (0.000000..0.500000)");
  CHECK(error_of(policy + "{match: \"p:*\", query: q, mapping: json, lease: true, "
                          "lease_wait: 5s}\n") ==
        "t.yaml:6:7: cache.policies[0]: lease_wait must be shorter than load_timeout, or "
        "waiting clients time out first");
  CHECK(error_of(policy + "{match: \"p:*\", query: q, mapping: json, lease_in_read: yes}\n") ==
        "t.yaml:6:62: cache.policies[0].lease_in_read: unknown value 'yes' (expected one of: "
        "auto, true, false)");
  CHECK(error_of(policy + "{match: \"p:*\", query: q, mapping: json, warm: {}}\n") ==
        "t.yaml:6:53: cache.policies[0].warm: needs exactly one of 'ids' or 'query'");
  CHECK(error_of(policy + "{match: \"p:*\", query: q, mapping: json, tll: 1s}\n") ==
        "t.yaml:6:47: unknown key 'cache.policies[0].tll' (did you mean 'ttl'?)");
  CHECK(error_of(policy + "{match: \"p:*\", query: q, mapping: json}\n    - {match: \"p:*\", "
                          "query: r, mapping: json}\n") ==
        "t.yaml:7:7: cache.policies[1]: duplicate match 'p:*' (also at t.yaml:6)");
}

TEST_CASE("write modes default to none", "[config][cache][write]") {
  const auto config = load_string(
      kNodes + kDb +
          "  policies:\n    - {match: \"p:*\", table: t, key_column: id, columns: [v]}\n",
      "t.yaml");
  const auto& p = config.cache.policies[0];
  CHECK(p.write == WriteMode::kNone);
  CHECK_FALSE(p.delete_row_on_del);
  CHECK(p.write_behind.coalesce);
  CHECK(p.write_behind.queue_max == 100000);
  CHECK(p.write_behind.on_full == OnFull::kError);
  CHECK(config.cache.invalidation_channel.empty());
  const auto& q = config.cache.write_behind;
  CHECK(q.batch_size == 500);
  CHECK(q.flush_interval == 100ms);
  CHECK(q.backoff_min == 100ms);
  CHECK(q.backoff_max == 10s);
  CHECK(q.claim_idle == 30s);
}

TEST_CASE("write modes and write-behind options are read", "[config][cache][write]") {
  const auto config = load_string(kNodes + R"(
cache:
  database: {type: postgres, conninfo: "dbname=app"}
  invalidation_channel: sidecache_invalidate
  write_behind:
    batch_size: 50
    flush_interval: 20ms
    backoff_min: 10ms
    backoff_max: 1s
    claim_idle: 5s
  policies:
    - match: "a:*"
      table: a
      key_column: id
      value_column: v
      write: invalidate
      delete_row_on_del: true
    - {match: "b:*", table: b, key_column: id, mapping: hash, write: through}
    - match: "c:*"
      table: c
      key_column: id
      value_column: v
      write: behind
      write_behind:
        coalesce: false
        max_retries: 2
        queue_max: 1000
        on_full: slow
        slow_wait: 500ms
        dead_letter: false
)",
                                  "t.yaml");
  const auto& cache = config.cache;
  CHECK(cache.invalidation_channel == "sidecache_invalidate");
  REQUIRE(cache.policies.size() == 3);
  CHECK(cache.policies[0].write == WriteMode::kInvalidate);
  CHECK(cache.policies[0].delete_row_on_del);
  CHECK(cache.policies[1].write == WriteMode::kThrough);
  const auto& c = cache.policies[2];
  CHECK(c.write == WriteMode::kBehind);
  CHECK_FALSE(c.write_behind.coalesce);
  CHECK(c.write_behind.max_retries == 2);
  CHECK(c.write_behind.queue_max == 1000);
  CHECK(c.write_behind.on_full == OnFull::kSlow);
  CHECK(c.write_behind.slow_wait == 500ms);
  CHECK_FALSE(c.write_behind.dead_letter);
  CHECK(cache.write_behind.batch_size == 50);
  CHECK(cache.write_behind.flush_interval == 20ms);
  CHECK(cache.write_behind.backoff_min == 10ms);
  CHECK(cache.write_behind.backoff_max == 1s);
  CHECK(cache.write_behind.claim_idle == 5s);
}

TEST_CASE("write mode errors point at the key at fault", "[config][cache][write]") {
  const std::string policy = kNodes + kDb + "  policies:\n    - ";
  CHECK(error_of(policy + "{match: \"p:*\", table: t, key_column: id, columns: [v], write: "
                          "sometimes}\n") ==
        "t.yaml:6:69: cache.policies[0].write: unknown value 'sometimes' (expected one of: none, "
        "invalidate, through, behind)");
  CHECK(error_of(policy + "{match: \"p:*\", query: q, value_column: v, write: through}\n") ==
        "t.yaml:6:7: cache.policies[0]: 'write' needs a 'table' + 'key_column' source (not a "
        "'query')");
  // A json value is written as a JSON object of the row's columns.
  CHECK(error_of(policy + "{match: \"p:*\", table: t, key_column: id, mapping: json, write: "
                          "behind}\n") == "(no error)");
  CHECK(error_of(policy + "{match: \"p:*\", table: t, key_column: id, columns: [v], "
                          "delete_row_on_del: true}\n") ==
        "t.yaml:6:7: cache.policies[0]: 'delete_row_on_del' needs a 'write' mode");
  CHECK(error_of(policy + "{match: \"p:*\", table: t, key_column: id, columns: [v], write: "
                          "through, write_behind: {coalesce: false}}\n") ==
        "t.yaml:6:7: cache.policies[0]: 'write_behind' applies to write: behind only");
  CHECK(error_of(policy + "{match: \"p:*\", table: t, key_column: id, columns: [v], write: "
                          "behind, write_behind: {on_full: drop}}\n") ==
        "t.yaml:6:101: cache.policies[0].write_behind.on_full: unknown value 'drop' (expected one "
        "of: error, slow)");
  CHECK(error_of(policy + "{match: \"p:*\", table: t, key_column: id, columns: [v], write: "
                          "behind, write_behind: {queue_max: 0}}\n") ==
        "t.yaml:6:103: cache.policies[0].write_behind.queue_max: 0 is out of range "
        "(1..1099511627776)");
  CHECK(error_of(kNodes + kDb + "  invalidation_channel: inv\n") ==
        "t.yaml:4:3: cache: 'invalidation_channel' needs a postgres database");
}

TEST_CASE("queue-wide write-behind keys of a policy say where they moved",
          "[config][cache][write]") {
  const std::string policy = kNodes + kDb +
                             "  policies:\n    - {match: \"p:*\", table: t, key_column: id, "
                             "columns: [v], write: behind, write_behind: {";
  CHECK(error_of(policy + "coalesce: true, batch_size: 5}}\n") ==
        "t.yaml:6:120: cache.policies[0].write_behind.batch_size: is queue-wide (every behind "
        "policy shares one queue per node): set it in cache.write_behind: {batch_size: ...}");
  for (const std::string key : {"flush_interval", "backoff_min", "backoff_max", "claim_idle"}) {
    const auto error = error_of(policy + key + ": 1s}}\n");
    // The column of the value: after "{", the key and ": ".
    const auto column = std::to_string(92 + key.size() + 2);
    CHECK(error.starts_with("t.yaml:6:" + column + ": cache.policies[0].write_behind." + key +
                            ": is queue-wide"));
    CHECK(error.ends_with("set it in cache.write_behind: {" + key + ": ...}"));
  }
}

TEST_CASE("cache.write_behind errors point at the key at fault", "[config][cache][write]") {
  CHECK(error_of(kNodes + kDb + "  write_behind: {backoff_min: 2s, backoff_max: 1s}\n") ==
        "t.yaml:5:17: cache.write_behind: backoff_min must not be above backoff_max");
  CHECK(error_of(kNodes + kDb + "  write_behind: {batch_size: 0}\n") ==
        "t.yaml:5:30: cache.write_behind.batch_size: 0 is out of range (1..100000)");
  CHECK(error_of(kNodes + kDb + "  write_behind: {claim_idle: 10ms}\n") ==
        "t.yaml:5:30: cache.write_behind.claim_idle: 10ms is out of range (100ms..10m)");
  CHECK(error_of(kNodes + kDb + "  write_behind: {coalesce: false}\n") ==
        "t.yaml:5:28: cache.write_behind.coalesce: is set per policy: in the write_behind of "
        "each behind policy");
}

}  // namespace
}  // namespace sidecache::config
