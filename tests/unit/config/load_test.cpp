// Loading: the sample files, defaults, every key, and both node forms.
#include <catch2/catch.hpp>
#include <filesystem>

#include "config/config.hpp"

namespace sidecache::config {
namespace {

using namespace std::chrono_literals;

TEST_CASE("every sample in config/ loads", "[config][samples]") {
  const std::filesystem::path dir = std::filesystem::path(SIDECACHE_SOURCE_DIR) / "config";
  int samples = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml" && entry.path().extension() != ".yml") continue;
    INFO(entry.path());
    ++samples;
    Config config;
    REQUIRE_NOTHROW(config = load_file(entry.path().string()));
    CHECK(config.source == entry.path().string());
    if (config.pool.type == PoolType::kSentinel) {  // its node comes from the Sentinels
      CHECK_FALSE(config.pool.sentinel.sentinels.empty());
    } else {
      CHECK_FALSE(config.pool.nodes.empty());
    }
  }
  CHECK(samples >= 2);
}

TEST_CASE("the quick-start sample spells out the defaults", "[config][samples]") {
  const auto config = load_file(SIDECACHE_SOURCE_DIR "/config/sidecache.yaml");
  CHECK(config.listen.host == "127.0.0.1");
  CHECK(config.listen.port == 6380);
  REQUIRE(config.pool.nodes.size() == 2);
  CHECK(config.pool.nodes[0].name == "cache-a");
  CHECK(config.pool.nodes[0].address.port == 7001);
  CHECK(config.pool.nodes[1].name == "cache-b");
  CHECK(config.pool.nodes[1].address.port == 7002);

  // Apart from the nodes, the sample equals the built-in defaults.
  Config defaults;
  defaults.pool.nodes = config.pool.nodes;
  const auto& p = config.pool;
  const auto& d = defaults.pool;
  CHECK(p.hash == d.hash);
  CHECK(p.hash_tag.enabled == d.hash_tag.enabled);
  CHECK(p.hash_tag.open == d.hash_tag.open);
  CHECK(p.hash_tag.close == d.hash_tag.close);
  CHECK(p.connections_per_node == d.connections_per_node);
  CHECK(p.connect_timeout == d.connect_timeout);
  CHECK(p.request_timeout == d.request_timeout);
  CHECK(p.reconnect_backoff_min == d.reconnect_backoff_min);
  CHECK(p.reconnect_backoff_max == d.reconnect_backoff_max);
  CHECK(p.max_inflight_per_connection == d.max_inflight_per_connection);
  CHECK(config.workers == defaults.workers);
  CHECK(config.limits.max_clients == defaults.limits.max_clients);
  CHECK(config.limits.max_args == defaults.limits.max_args);
  CHECK(config.limits.max_bulk_bytes == defaults.limits.max_bulk_bytes);
  CHECK(config.limits.max_inline_bytes == defaults.limits.max_inline_bytes);
  CHECK(config.limits.max_pending_bytes == defaults.limits.max_pending_bytes);
  CHECK(config.limits.max_pipeline == defaults.limits.max_pipeline);
  CHECK(config.limits.max_output_bytes == defaults.limits.max_output_bytes);
  CHECK(config.logging.level == defaults.logging.level);
  CHECK(config.logging.format == defaults.logging.format);
  CHECK(config.commands.allow_keys == defaults.commands.allow_keys);
  CHECK(config.commands.allow_flush == defaults.commands.allow_flush);
}

TEST_CASE("the twemproxy migration sample keeps nutcracker's ring", "[config][samples]") {
  const auto config = load_file(SIDECACHE_SOURCE_DIR "/config/twemproxy-migration.yaml");
  CHECK(config.listen.port == 22122);
  CHECK(config.pool.hash == route::HashKind::kFnv1a64);
  CHECK_FALSE(config.pool.hash_tag.enabled);
  CHECK(config.pool.request_timeout == 400ms);
  REQUIRE(config.pool.nodes.size() == 3);
  CHECK(config.pool.nodes[0].name == "cache-a");
  CHECK(config.pool.nodes[1].name == "cache-b");
  CHECK(config.pool.nodes[2].name == "127.0.0.1:7003");
  CHECK(config.pool.nodes[0].weight == 1);
  CHECK(config.pool.nodes[2].weight == 2);
  CHECK(config.pool.nodes[2].address.host == "127.0.0.1");
  CHECK(config.pool.nodes[2].address.port == 7003);
}

TEST_CASE("only pool.nodes is required; everything else has a default", "[config][load]") {
  const auto config = load_string("pool:\n  nodes: [127.0.0.1:7001:1]\n", "mini.yaml");
  const Config defaults;
  CHECK(config.source == "mini.yaml");
  CHECK(config.listen.host == "127.0.0.1");
  CHECK(config.listen.port == 6380);
  CHECK(config.workers == 0);
  CHECK(config.pool.hash == route::HashKind::kFnv1a64);
  CHECK(config.pool.hash_tag.enabled);
  CHECK(config.pool.hash_tag.open == '{');
  CHECK(config.pool.hash_tag.close == '}');
  CHECK(config.pool.connections_per_node == 1);
  CHECK(config.pool.connect_timeout == 1s);
  CHECK(config.pool.request_timeout == 2s);
  CHECK(config.pool.reconnect_backoff_min == 8ms);
  CHECK(config.pool.reconnect_backoff_max == 512ms);
  CHECK(config.pool.max_inflight_per_connection == 65536);
  CHECK(config.limits.max_clients == 10000);
  CHECK(config.limits.max_args == 1048576);
  CHECK(config.limits.max_bulk_bytes == 512ull << 20);
  CHECK(config.limits.max_inline_bytes == 64 * 1024);
  CHECK(config.limits.max_pending_bytes == 1ull << 30);
  CHECK(config.limits.max_pipeline == 4096);
  CHECK(config.limits.max_output_bytes == 256ull << 20);
  CHECK(config.logging.level == "info");
  CHECK(config.logging.format == LogFormat::kText);
}

TEST_CASE("every key is read", "[config][load]") {
  const auto config = load_string(R"(
listen: "[::1]:16380"
workers: 4
pool:
  hash: murmur
  distribution: ketama
  hash_tag: "::"
  connections_per_node: 3
  connect_timeout: 250ms
  request_timeout: 0
  reconnect_backoff: {min: 1s, max: 1m}
  max_inflight_per_connection: 100
  nodes:
    - {name: a, address: 10.0.0.1:6379, weight: 10000}
limits:
  max_clients: 5
  max_args: 7
  max_bulk_bytes: 1KB
  max_inline_bytes: 200
  max_pending_bytes: 2kb
  max_pipeline: 1
  max_output_bytes: 3mb
logging: {level: debug, format: json}
)",
                                  "all.yaml");
  CHECK(config.listen.host == "::1");
  CHECK(config.listen.port == 16380);
  CHECK(config.workers == 4);
  CHECK(config.pool.hash == route::HashKind::kMurmur);
  CHECK(config.pool.hash_tag.enabled);
  CHECK(config.pool.hash_tag.open == ':');
  CHECK(config.pool.hash_tag.close == ':');
  CHECK(config.pool.connections_per_node == 3);
  CHECK(config.pool.connect_timeout == 250ms);
  CHECK(config.pool.request_timeout == 0ms);
  CHECK(config.pool.reconnect_backoff_min == 1s);
  CHECK(config.pool.reconnect_backoff_max == 1min);
  CHECK(config.pool.max_inflight_per_connection == 100);
  REQUIRE(config.pool.nodes.size() == 1);
  CHECK(config.pool.nodes[0].weight == 10000);
  CHECK(config.limits.max_clients == 5);
  CHECK(config.limits.max_args == 7);
  CHECK(config.limits.max_bulk_bytes == 1024);
  CHECK(config.limits.max_inline_bytes == 200);
  CHECK(config.limits.max_pending_bytes == 2048);
  CHECK(config.limits.max_pipeline == 1);
  CHECK(config.limits.max_output_bytes == 3ull << 20);
  CHECK(config.logging.level == "debug");
  CHECK(config.logging.format == LogFormat::kJson);
}

TEST_CASE("every hash name is accepted", "[config][load]") {
  for (const char* name : {"fnv1a_64", "fnv1_64", "fnv1a_32", "fnv1_32", "md5", "murmur", "crc16",
                           "crc32", "crc32a", "one_at_a_time", "jenkins", "hsieh"}) {
    INFO(name);
    const auto config = load_string(
        std::string("pool: {hash: ") + name + ", nodes: [127.0.0.1:7001:1]}\n", "h.yaml");
    CHECK(route::hash_kind_name(config.pool.hash) == name);
  }
}

TEST_CASE("hash_tag \"\" turns tags off", "[config][load]") {
  const auto config = load_string("pool: {hash_tag: '', nodes: [127.0.0.1:7001:1]}\n", "t.yaml");
  CHECK_FALSE(config.pool.hash_tag.enabled);
}

TEST_CASE("nodes in map form and twemproxy's string form", "[config][nodes]") {
  const auto config = load_string(R"(
pool:
  nodes:
    - {name: cache-a, address: 127.0.0.1:7001, weight: 3}
    - address: 127.0.0.1:7002
    - "127.0.0.1:7003:2 cache-c"
    - 127.0.0.1:7004:1
    - 10.0.0.5:11211:1
    - {address: "10.0.0.6:11211"}
    - "::1:7005:4 v6-bare"
    - "[::1]:7006:1"
    - {address: "[::1]:7007"}
    - "redis.internal:6379:1   spaced"
)",
                                  "nodes.yaml");
  const auto& n = config.pool.nodes;
  REQUIRE(n.size() == 10);
  CHECK(n[0].name == "cache-a");
  CHECK(n[0].weight == 3);
  CHECK(n[1].name == "127.0.0.1:7002");
  CHECK(n[1].weight == 1);
  CHECK(n[2].name == "cache-c");
  CHECK(n[2].address.host == "127.0.0.1");
  CHECK(n[2].address.port == 7003);
  CHECK(n[2].weight == 2);
  CHECK(n[3].name == "127.0.0.1:7004");
  // twemproxy leaves the port out of an unnamed server's name when it is 11211.
  CHECK(n[4].name == "10.0.0.5");
  CHECK(n[5].name == "10.0.0.6");
  CHECK(n[6].name == "v6-bare");
  CHECK(n[6].address.host == "::1");
  CHECK(n[6].address.port == 7005);
  CHECK(n[6].weight == 4);
  CHECK(n[7].address.host == "::1");
  CHECK(n[7].name == "::1:7006");
  CHECK(n[8].name == "::1:7007");
  CHECK(n[9].name == "spaced");
  CHECK(n[9].address.host == "redis.internal");
}

TEST_CASE("YAML anchors and quoted numbers are accepted", "[config][load]") {
  const auto config = load_string(R"(
pool:
  connect_timeout: &t 3s
  request_timeout: *t
  connections_per_node: "2"
  nodes: [127.0.0.1:7001:1]
)",
                                  "a.yaml");
  CHECK(config.pool.connect_timeout == 3s);
  CHECK(config.pool.request_timeout == 3s);
  CHECK(config.pool.connections_per_node == 2);
}

}  // namespace
}  // namespace sidecache::config

namespace sidecache::config {
namespace {

TEST_CASE("commands: KEYS and FLUSH are off unless enabled", "[config][load]") {
  const std::string nodes = "pool:\n  nodes: [127.0.0.1:7001:1]\n";
  const auto defaults = load_string(nodes, "d.yaml");
  CHECK_FALSE(defaults.commands.allow_keys);
  CHECK_FALSE(defaults.commands.allow_flush);
  const auto on =
      load_string(nodes + "commands: {allow_keys: true, allow_flush: true}\n", "on.yaml");
  CHECK(on.commands.allow_keys);
  CHECK(on.commands.allow_flush);
  CHECK_THROWS_WITH(load_string(nodes + "commands:\n  allow_keys: yes\n", "t.yaml"),
                    Catch::Contains("t.yaml:4:15") && Catch::Contains("allow_keys"));
  CHECK_THROWS_WITH(load_string(nodes + "commands:\n  allow_scan: true\n", "t.yaml"),
                    Catch::Contains("unknown key 'commands.allow_scan'"));
}

}  // namespace
}  // namespace sidecache::config

namespace sidecache::config {
namespace {

TEST_CASE("node host names that do not resolve are warned about, only when asked",
          "[config][load]") {
  const std::string text =
      "listen: 127.0.0.1:6390\n"
      "pool:\n"
      "  nodes:\n"
      "    - {name: a, address: 127.0.0.1:7001}\n"
      "    - {name: b, address: localhost:7002}\n"
      "    - {name: c, address: no-such-node.invalid:7003}\n";
  CHECK(load_string(text, "r.yaml").warnings.empty());  // no DNS lookup by default
  const auto config = load_string(text, "r.yaml", {.resolve_nodes = true});
  REQUIRE(config.warnings.size() == 1);
  CHECK_THAT(config.warnings[0],
             Catch::StartsWith("r.yaml:6:26: pool.nodes[2].address: host "
                               "'no-such-node.invalid' does not resolve (") &&
                 Catch::EndsWith("); starting anyway, connecting to it fails until it does"));
}

TEST_CASE("origins name the listen keys for startup errors", "[config][load]") {
  const auto config = load_string(
      "pool:\n  nodes: [127.0.0.1:7001:1]\nlisten: 127.0.0.1:6390\nhttp:\n  listen: "
      "127.0.0.1:9100\n",
      "o.yaml");
  CHECK(config.origins.at("listen") == "o.yaml:3:9");
  CHECK(config.origins.at("http.listen") == "o.yaml:5:11");
  CHECK(load_string("pool:\n  nodes: [127.0.0.1:7001:1]\n", "o.yaml").origins.empty());
}

}  // namespace
}  // namespace sidecache::config
