// Every class of error, with its exact "file:line:column: message" (1-based positions).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.hpp"
#include "error_of.hpp"

namespace sidecache::config {
namespace {

using testing::error_of;

// A valid pool to append keys to.
const std::string kNodes = "pool:\n  nodes: [127.0.0.1:7001:1]\n";

TEST_CASE("YAML syntax errors carry their position", "[config][errors]") {
  CHECK(error_of("pool:\n  nodes: [127.0.0.1:7001:1\nworkers: 1\n") ==
        "t.yaml:3:8: YAML syntax error: end of sequence flow not found");
  CHECK(error_of("pool:\n  hash: md5\n    nodes: []\n") ==
        "t.yaml:3:10: YAML syntax error: illegal map value");
  CHECK(error_of(kNodes + "logging: {level: 'info}\n") ==
        "t.yaml:4:1: YAML syntax error: end of map flow not found");
  CHECK(error_of("pool:\n  nodes: [a, b}\n") == "t.yaml:2:15: YAML syntax error: illegal flow end");
  // yaml-cpp ends an unterminated quoted scalar at the end of the input; the value is then
  // reported as invalid.
  CHECK(error_of("listen: \"127.0.0.1:6380\n") == "t.yaml:1:9: listen: invalid port '6380 '");
}

TEST_CASE("the document must be one non-empty map", "[config][errors]") {
  CHECK(error_of("") == "t.yaml:1:1: empty configuration: at least pool.nodes is required");
  CHECK(error_of("# only a comment\n") ==
        "t.yaml:1:1: empty configuration: at least pool.nodes is required");
  CHECK(error_of("- a\n- b\n") == "t.yaml:1:1: expected a map of keys at the top of the file");
  CHECK(error_of("just text\n") == "t.yaml:1:1: expected a map of keys at the top of the file");
  CHECK(error_of(kNodes + "---\nworkers: 1\n") ==
        "t.yaml:4:1: expected one YAML document, found 2");
  // Input on which yaml-cpp 0.7's LoadAll never returns (found by fuzz_config).
  CHECK(error_of(",--< {}\n--- {Vh\n") == "t.yaml:1:1: YAML syntax error: unexpected content");
  CHECK(error_of(",\n") == "t.yaml:1:1: YAML syntax error: unexpected content");
}

TEST_CASE("unknown keys at every level", "[config][errors]") {
  CHECK(error_of("listne: 127.0.0.1:1\n" + kNodes) ==
        "t.yaml:1:1: unknown key 'listne' (did you mean 'listen'?)");
  CHECK(error_of("pool:\n  hahs: md5\n") ==
        "t.yaml:2:3: unknown key 'pool.hahs' (did you mean 'hash'?)");
  CHECK(error_of("pool:\n  foo: 1\n") == "t.yaml:2:3: unknown key 'pool.foo'");
  CHECK(error_of("pool:\n  reconnect_backoff: {min: 1ms, maximum: 2ms}\n") ==
        "t.yaml:2:33: unknown key 'pool.reconnect_backoff.maximum'");
  CHECK(error_of("pool:\n  nodes:\n    - {address: 127.0.0.1:1, wieght: 2}\n") ==
        "t.yaml:3:30: unknown key 'pool.nodes[0].wieght' (did you mean 'weight'?)");
  CHECK(error_of(kNodes + "limits:\n  max_client: 5\n") ==
        "t.yaml:4:3: unknown key 'limits.max_client' (did you mean 'max_clients'?)");
  CHECK(error_of(kNodes + "logging: {level: info, fromat: json}\n") ==
        "t.yaml:3:24: unknown key 'logging.fromat' (did you mean 'format'?)");
}

TEST_CASE("a twemproxy file is recognised", "[config][errors]") {
  CHECK(error_of("alpha:\n  listen: 127.0.0.1:22121\n  servers:\n    - 127.0.0.1:6379:1\n") ==
        "t.yaml:1:1: this looks like a twemproxy pool ('alpha.servers'); sidecache has one "
        "'pool:' with 'nodes:' (see docs/configuration.md, migrating from twemproxy)");
}

TEST_CASE("duplicate keys are errors", "[config][errors]") {
  CHECK(error_of("pool:\n  hash: md5\n  hash: crc16\n") ==
        "t.yaml:3:3: duplicate key 'pool.hash' (first at line 2)");
  CHECK(error_of(kNodes + "workers: 1\nworkers: 2\n") ==
        "t.yaml:4:1: duplicate key 'workers' (first at line 3)");
}

TEST_CASE("wrong types are explained", "[config][errors]") {
  CHECK(error_of("pool: 5\n") == "t.yaml:1:7: pool: expected a map of keys, got a scalar");
  CHECK(error_of("pool: [a]\n") == "t.yaml:1:7: pool: expected a map of keys, got a list");
  CHECK(error_of("pool:\n  nodes: {a: 1}\n") ==
        "t.yaml:2:10: pool.nodes: expected a list, got a map");
  CHECK(error_of("pool:\n  nodes:\n") ==
        "t.yaml:2:3: pool.nodes: expected a list, got nothing (missing value)");
  CHECK(error_of(kNodes + "workers: [1]\n") ==
        "t.yaml:3:10: workers: expected a single value, got a list");
  CHECK(error_of(kNodes + "workers: {n: 1}\n") ==
        "t.yaml:3:10: workers: expected a single value, got a map");
  CHECK(error_of(kNodes + "workers:\n") ==
        "t.yaml:3:1: workers: expected a single value, got nothing (missing value)");
  CHECK(error_of(kNodes + "workers: ~\n") ==
        "t.yaml:3:1: workers: expected a single value, got nothing (missing value)");
  CHECK(error_of(kNodes + "workers: abc\n") ==
        "t.yaml:3:10: workers: expected an integer, got 'abc'");
  CHECK(error_of(kNodes + "workers: 1.5\n") ==
        "t.yaml:3:10: workers: expected an integer, got '1.5'");
  CHECK(error_of("pool:\n  nodes:\n    - [1, 2]\n") ==
        "t.yaml:3:7: pool.nodes[0]: expected a map {name, address, weight} or a "
        "\"host:port:weight [name]\" string");
  CHECK(error_of("? [a]\n: 1\n") == "t.yaml:1:3: expected a plain key");
  CHECK(error_of("pool:\n  ? {a: 1}\n  : 1\n") == "t.yaml:2:5: expected a plain key in pool");
}

TEST_CASE("integers are range- and overflow-checked", "[config][errors]") {
  CHECK(error_of(kNodes + "workers: 257\n") ==
        "t.yaml:3:10: workers: 257 is out of range (0..256)");
  CHECK(error_of(kNodes + "workers: -1\n") == "t.yaml:3:10: workers: -1 is out of range (0..256)");
  CHECK(error_of(kNodes + "workers: 99999999999999999999999\n") ==
        "t.yaml:3:10: workers: 99999999999999999999999 is out of range (0..256)");
  CHECK(error_of(kNodes + "workers: 4294967296\n") ==
        "t.yaml:3:10: workers: 4294967296 is out of range (0..256)");
  CHECK(error_of("pool:\n  connections_per_node: 0\n") ==
        "t.yaml:2:25: pool.connections_per_node: 0 is out of range (1..64)");
  CHECK(error_of("pool:\n  connections_per_node: 65\n") ==
        "t.yaml:2:25: pool.connections_per_node: 65 is out of range (1..64)");
  CHECK(error_of("pool:\n  nodes:\n    - {address: 127.0.0.1:1, weight: 0}\n") ==
        "t.yaml:3:38: pool.nodes[0].weight: 0 is out of range (1..10000)");
  CHECK(error_of("pool:\n  nodes:\n    - {address: 127.0.0.1:1, weight: 10001}\n") ==
        "t.yaml:3:38: pool.nodes[0].weight: 10001 is out of range (1..10000)");
  CHECK(error_of(kNodes + "limits: {max_pipeline: 0}\n") ==
        "t.yaml:3:24: limits.max_pipeline: 0 is out of range (1..1048576)");
  CHECK(error_of(kNodes + "limits: {max_clients: 1000001}\n") ==
        "t.yaml:3:23: limits.max_clients: 1000001 is out of range (1..1000000)");
  CHECK(error_of(kNodes + "limits: {max_args: 2147483648}\n") ==
        "t.yaml:3:20: limits.max_args: 2147483648 is out of range (1..2147483647)");
  CHECK(error_of("pool:\n  max_inflight_per_connection: 0\n") ==
        "t.yaml:2:32: pool.max_inflight_per_connection: 0 is out of range (1..1048576)");
}

TEST_CASE("durations in the file are checked", "[config][errors]") {
  CHECK(error_of("pool:\n  connect_timeout: 0\n") ==
        "t.yaml:2:20: pool.connect_timeout: 0 is out of range (1ms..10m)");
  CHECK(error_of("pool:\n  request_timeout: 11m\n") ==
        "t.yaml:2:20: pool.request_timeout: 11m is out of range (0ms..10m)");
  CHECK(error_of("pool:\n  request_timeout: 2w\n") ==
        "t.yaml:2:20: pool.request_timeout: invalid duration '2w': expected an integer with unit "
        "ms, s, m, h or d (e.g. 500ms, 2s, 1m, 24h), or an integer of milliseconds");
  CHECK(error_of("pool:\n  request_timeout: 99999999999999999999s\n") ==
        "t.yaml:2:20: pool.request_timeout: duration '99999999999999999999s' is too large");
  CHECK(error_of("pool:\n  request_timeout: 9999999999999999s\n") ==
        "t.yaml:2:20: pool.request_timeout: duration '9999999999999999s' is too large");
  CHECK(error_of("pool:\n  reconnect_backoff: {min: 0ms}\n") ==
        "t.yaml:2:28: pool.reconnect_backoff.min: 0ms is out of range (1ms..10m)");
  CHECK(error_of("pool:\n  reconnect_backoff: 5s\n") ==
        "t.yaml:2:22: pool.reconnect_backoff: expected a map of keys, got a scalar");
}

TEST_CASE("sizes in the file are checked", "[config][errors]") {
  CHECK(error_of(kNodes + "limits: {max_bulk_bytes: 0}\n") ==
        "t.yaml:3:26: limits.max_bulk_bytes: 0 is out of range (1b..1024gb)");
  CHECK(error_of(kNodes + "limits: {max_output_bytes: 1025gb}\n") ==
        "t.yaml:3:28: limits.max_output_bytes: 1025gb is out of range (1b..1024gb)");
  CHECK(error_of(kNodes + "limits: {max_output_bytes: 1tb}\n") ==
        "t.yaml:3:28: limits.max_output_bytes: invalid size '1tb': expected an integer of bytes, "
        "or with unit b, kb, mb or gb (1024-based, e.g. 64kb, 512mb)");
  CHECK(error_of(kNodes + "limits: {max_output_bytes: 99999999999gb}\n") ==
        "t.yaml:3:28: limits.max_output_bytes: size '99999999999gb' is too large");
}

TEST_CASE("enumerated values are checked", "[config][errors]") {
  CHECK(error_of("pool:\n  hash: sha1\n") ==
        "t.yaml:2:9: pool.hash: unknown hash 'sha1' (expected one of: fnv1a_64, fnv1_64, "
        "fnv1a_32, fnv1_32, md5, murmur, crc16, crc32, crc32a, one_at_a_time, jenkins, hsieh)");
  CHECK(error_of("pool:\n  distribution: modula\n") ==
        "t.yaml:2:17: pool.distribution: distribution 'modula' is not supported yet (only "
        "'ketama' is)");
  CHECK(error_of("pool:\n  distribution: consistent\n") ==
        "t.yaml:2:17: pool.distribution: unknown distribution 'consistent' (only 'ketama' is "
        "supported)");
  CHECK(error_of(kNodes + "logging:\n  level: verbose\n") ==
        "t.yaml:4:10: logging.level: unknown value 'verbose' (expected one of: trace, debug, "
        "info, warn, error, critical, off)");
  CHECK(error_of(kNodes + "logging:\n  format: xml\n") ==
        "t.yaml:4:11: logging.format: unknown value 'xml' (expected one of: text, json)");
}

TEST_CASE("hash_tag is two characters or empty", "[config][errors]") {
  CHECK(error_of("pool:\n  hash_tag: {}\n") ==
        "t.yaml:2:13: pool.hash_tag: an unquoted {} is an empty YAML map: write hash_tag: \"{}\"");
  CHECK(error_of("pool:\n  hash_tag: \"{\"\n") ==
        "t.yaml:2:13: pool.hash_tag: must be exactly two characters (e.g. \"{}\"), or \"\" to "
        "turn tags off; got '{'");
  CHECK(error_of("pool:\n  hash_tag: abc\n") ==
        "t.yaml:2:13: pool.hash_tag: must be exactly two characters (e.g. \"{}\"), or \"\" to "
        "turn tags off; got 'abc'");
}

TEST_CASE("addresses are checked", "[config][errors]") {
  CHECK(error_of("listen: 127.0.0.1\n" + kNodes) ==
        "t.yaml:1:9: listen: missing port in '127.0.0.1': expected host:port or [v6]:port");
  CHECK(error_of("listen: 127.0.0.1:0\n" + kNodes) ==
        "t.yaml:1:9: listen: port 0 is out of range (1..65535)");
  CHECK(error_of("pool:\n  nodes:\n    - {address: \"::1:7001\"}\n") ==
        "t.yaml:3:17: pool.nodes[0].address: IPv6 addresses need brackets, e.g. [::1]:6379");
  CHECK(error_of("pool:\n  nodes:\n    - {address: 127.0.0.1:65536}\n") ==
        "t.yaml:3:17: pool.nodes[0].address: port 65536 is out of range (1..65535)");
}

TEST_CASE("node entries are checked", "[config][errors]") {
  CHECK(error_of("pool:\n  nodes:\n    - {name: a}\n") ==
        "t.yaml:3:7: pool.nodes[0]: missing required key 'address'");
  CHECK(error_of("pool:\n  nodes:\n    - {name: '', address: 127.0.0.1:1}\n") ==
        "t.yaml:3:14: pool.nodes[0].name: must not be empty");
  CHECK(error_of("pool:\n  nodes:\n    - 127.0.0.1:7001\n") ==
        "t.yaml:3:7: pool.nodes[0]: invalid server '127.0.0.1:7001': expected \"host:port:weight "
        "[name]\" (twemproxy's form) or a map");
  CHECK(error_of("pool:\n  nodes:\n    - 127.0.0.1:7001:1 a b\n") ==
        "t.yaml:3:7: pool.nodes[0]: invalid server '127.0.0.1:7001:1 a b': expected "
        "\"host:port:weight [name]\" (twemproxy's form) or a map");
  CHECK(error_of("pool:\n  nodes:\n    - 127.0.0.1:7001:0\n") ==
        "t.yaml:3:7: pool.nodes[0]: weight 0 is out of range (1..10000)");
  CHECK(error_of("pool:\n  nodes:\n    - 127.0.0.1:7001:99999999999999999999\n") ==
        "t.yaml:3:7: pool.nodes[0]: weight 99999999999999999999 is out of range (1..10000)");
  CHECK(error_of("pool:\n  nodes:\n    - 127.0.0.1:7001:x\n") ==
        "t.yaml:3:7: pool.nodes[0]: invalid weight 'x' in '127.0.0.1:7001:x'");
  CHECK(error_of("pool:\n  nodes:\n    - 127.0.0.1:0:1\n") ==
        "t.yaml:3:7: pool.nodes[0]: port 0 is out of range (1..65535)");
  CHECK(error_of("pool:\n  nodes:\n    - /tmp/redis.sock:1\n") ==
        "t.yaml:3:7: pool.nodes[0]: unix socket servers are not supported");
}

TEST_CASE("semantic checks point at the key at fault", "[config][errors]") {
  CHECK(error_of("pool:\n  hash: md5\n  nodes: []\n") ==
        "t.yaml:3:10: pool.nodes: at least one node is required");
  CHECK(error_of("workers: 1\n") == "t.yaml:1:1: pool.nodes: at least one node is required");
  CHECK(error_of("pool:\n  nodes:\n    - {name: a, address: 127.0.0.1:7001}\n"
                 "    - {name: a, address: 127.0.0.1:7002}\n") ==
        "t.yaml:4:14: pool.nodes[1].name: duplicate node name 'a' (also pool.nodes[0])");
  CHECK(error_of("pool:\n  nodes:\n    - {name: 127.0.0.1:7002, address: 127.0.0.1:7001}\n"
                 "    - 127.0.0.1:7002:1\n") ==
        "t.yaml:4:7: pool.nodes[1].name: duplicate node name '127.0.0.1:7002' (also "
        "pool.nodes[0])");
  CHECK(error_of("pool:\n  nodes:\n    - 127.0.0.1:7001:1 a\n"
                 "    - {name: b, address: 127.0.0.1:7001}\n") ==
        "t.yaml:4:26: pool.nodes[1].address: duplicate node address 127.0.0.1:7001 (also "
        "pool.nodes[0])");
  CHECK(error_of("pool:\n  nodes:\n    - localhost:7001:1 a\n    - 127.0.0.1:7001:1 b\n") ==
        "t.yaml:4:7: pool.nodes[1].address: duplicate node address 127.0.0.1:7001 (also "
        "pool.nodes[0])");
  CHECK(error_of("listen: 127.0.0.1:7001\n" + kNodes) ==
        "t.yaml:3:11: pool.nodes[0].address: node address 127.0.0.1:7001 is sidecache's own "
        "listen address (listen: 127.0.0.1:7001)");
  CHECK(error_of("pool:\n  nodes:\n    - {address: 127.0.0.1:6380}\n") ==
        "t.yaml:3:17: pool.nodes[0].address: node address 127.0.0.1:6380 is sidecache's own "
        "listen address (listen: 127.0.0.1:6380)");
  CHECK(error_of("listen: 0.0.0.0:7001\npool:\n  nodes: [localhost:7001:1]\n") ==
        "t.yaml:3:11: pool.nodes[0].address: node address localhost:7001 is sidecache's own "
        "listen address (listen: 0.0.0.0:7001)");
  CHECK(error_of("listen: 10.0.0.1:7001\n" + kNodes) == "(no error)");
  CHECK(error_of(kNodes + "  reconnect_backoff: {min: 2s, max: 1s}\n") ==
        "t.yaml:3:28: pool.reconnect_backoff.min: 2000ms must not exceed max (1000ms)");
  CHECK(error_of(kNodes + "  reconnect_backoff: {min: 1s}\n") ==
        "t.yaml:3:28: pool.reconnect_backoff.min: 1000ms must not exceed max (512ms)");
  CHECK(error_of(kNodes + "limits: {max_pending_bytes: 1mb}\n") ==
        "t.yaml:3:29: limits.max_pending_bytes: max_bulk_bytes (536870912 bytes) must not exceed "
        "max_pending_bytes (1048576 bytes)");
  CHECK(error_of(kNodes + "limits: {max_pending_bytes: 1mb, max_bulk_bytes: 1mb, "
                          "max_inline_bytes: 2mb}\n") ==
        "t.yaml:3:73: limits.max_inline_bytes: max_inline_bytes (2097152 bytes) must not exceed "
        "max_pending_bytes (1048576 bytes)");
}

TEST_CASE("load_file names the file in every message", "[config][errors]") {
  CHECK_THROWS_WITH(load_file("/nonexistent/sidecache.yaml"),
                    "/nonexistent/sidecache.yaml: cannot read config file: No such file or "
                    "directory");
  const auto dir = std::filesystem::temp_directory_path() /
                   ("sidecache-config-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  CHECK_THROWS_WITH(load_file(dir.string()),
                    dir.string() + ": cannot read config file: is a directory");
  const auto file = (dir / "bad.yaml").string();
  std::ofstream(file) << "pool:\n  nodes: [127.0.0.1:7001:1]\n  hash: [\n";
  CHECK_THROWS_WITH(load_file(file),
                    file + ":4:1: YAML syntax error: end of sequence flow not found");
  std::ofstream(file) << "pool:\n  nodes: [127.0.0.1:7001:1]\n  weight: 1\n";
  CHECK_THROWS_WITH(load_file(file), file + ":3:3: unknown key 'pool.weight'");
  std::filesystem::remove_all(dir);
}

TEST_CASE("hostile input only ever yields ConfigError", "[config][errors]") {
  const std::string deep(5000, '[');
  for (const std::string& text :
       {std::string("{"), std::string("["), std::string("pool: &a {nodes: *a}"),
        std::string("pool: {nodes: &n [*n]}"), std::string("pool: !!binary aGVsbG8="),
        std::string("pool: {nodes: [!!str 127.0.0.1:7001:1, *x]}"), std::string("\t"),
        std::string("\xff\xfe\x00\x01", 4), std::string("pool: {nodes: [{? : }]}"),
        std::string("pool:\n  nodes:\n    - {address: 127.0.0.1:7001, name: [x]}\n"),
        std::string("%YAML 9.9\n---\npool: 1\n"), std::string("pool: {nodes: [\"\"]}"), deep}) {
    INFO(text.substr(0, 60));
    CHECK_THROWS_AS(load_string(text, "h.yaml"), ConfigError);
  }
}

}  // namespace
}  // namespace sidecache::config
