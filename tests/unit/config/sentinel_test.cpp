// pool.type: sentinel: its keys, defaults and the errors at their key.
#include <catch2/catch.hpp>

#include "config/config.hpp"
#include "error_of.hpp"

namespace sidecache::config {
namespace {

using namespace std::chrono_literals;
using testing::error_of;

const std::string kHead = "pool:\n  type: sentinel\n";

TEST_CASE("a sentinel pool reads every key of pool.sentinel", "[config][sentinel]") {
  const auto config = load_string(kHead +
                                      "  sentinel:\n"
                                      "    master: mymaster\n"
                                      "    sentinels: [10.0.0.1:26379, \"[::1]:26380\"]\n"
                                      "    username: watcher\n"
                                      "    password_env: SENTINEL_PASSWORD\n"
                                      "    refresh_interval: 3s\n"
                                      "    refresh_min_interval: 100ms\n",
                                  "t.yaml");
  const auto& pool = config.pool;
  CHECK(pool.type == PoolType::kSentinel);
  CHECK(pool.nodes.empty());  // filled by the daemon from the Sentinels' answer
  CHECK(pool.sentinel.master == "mymaster");
  REQUIRE(pool.sentinel.sentinels.size() == 2);
  CHECK(pool.sentinel.sentinels[0] == Endpoint{"10.0.0.1", 26379});
  CHECK(pool.sentinel.sentinels[1] == Endpoint{"::1", 26380});
  CHECK(pool.sentinel.username == "watcher");
  CHECK(pool.sentinel.password.kind == SecretSource::Kind::kEnv);
  CHECK(pool.sentinel.refresh_interval == 3s);
  CHECK(pool.sentinel.refresh_min_interval == 100ms);
  CHECK(pool.unresolved.empty());
  CHECK(pool.sentinel.read_from == ReadFrom::kPrimary);
}

TEST_CASE("pool.sentinel.tls: TLS to the Sentinels, apart from the nodes'", "[config][sentinel]") {
  const auto config = load_string(kHead +
                                      "  sentinel:\n"
                                      "    master: m\n"
                                      "    sentinels: [h:1]\n"
                                      "    tls: {server_name: sentinel.internal, verify: true}\n",
                                  "t.yaml");
  CHECK(config.pool.sentinel.tls.enabled);
  CHECK(config.pool.sentinel.tls.server_name == "sentinel.internal");
  CHECK_FALSE(config.pool.tls.enabled);  // the data nodes' stays off
  const auto plain = load_string(kHead + "  sentinel: {master: m, sentinels: [h:1]}\n", "t.yaml");
  CHECK_FALSE(plain.pool.sentinel.tls.enabled);
  CHECK_THAT(error_of(kHead + "  sentinel:\n    master: m\n    sentinels: [h:1]\n"
                              "    tls: {ca_file: /nonexistent/ca.crt}\n"),
             Catch::Contains("t.yaml:6:20: pool.sentinel.tls.ca_file: cannot read "
                             "/nonexistent/ca.crt"));
  CHECK_THAT(error_of(kHead + "  sentinel:\n    master: m\n    sentinels: [h:1]\n"
                              "    tls: {bogus: 1}\n"),
             Catch::Contains("bogus"));
}

TEST_CASE("a sentinel pool may read from the replicas", "[config][sentinel]") {
  const std::string head = kHead + "  sentinel: {master: m, sentinels: [h:1], read_from: ";
  CHECK(load_string(head + "replica}\n", "t.yaml").pool.sentinel.read_from == ReadFrom::kReplica);
  CHECK(load_string(head + "prefer_replica}\n", "t.yaml").pool.sentinel.read_from ==
        ReadFrom::kPreferReplica);
  CHECK_THAT(error_of(head + "any}\n"), Catch::Contains("pool.sentinel.read_from"));
  CHECK_THAT(error_of(head + "replica}\nnear_cache: {enabled: true, patterns: [\"*\"]}\n"),
             Catch::Contains("replica reads and near_cache together are not supported"));
  CHECK_THAT(error_of("pool:\n  sentinel: {sentinels: [h:1], read_from: replica}\n  nodes:\n"
                      "    - {master: m}\n"),
             Catch::Contains("t.yaml:2:43: pool.sentinel.read_from: replica reads are not "
                             "supported on a ring of Sentinel groups"));
}

TEST_CASE("the Sentinel sample watches three Sentinels", "[config][samples][sentinel]") {
  const auto config = load_file(SIDECACHE_SOURCE_DIR "/config/sentinel.yaml");
  CHECK(config.pool.type == PoolType::kSentinel);
  CHECK(config.pool.sentinel.master == "mymaster");
  CHECK(config.pool.sentinel.sentinels.size() == 3);
  CHECK(config.pool.sentinel.refresh_interval == 5s);
  CHECK(config.pool.nodes.empty());
}

TEST_CASE("pool.sentinel defaults", "[config][sentinel]") {
  const auto config =
      load_string(kHead + "  sentinel: {master: m, sentinels: [127.0.0.1:26379]}\n", "t.yaml");
  CHECK(config.pool.sentinel.refresh_interval == 5s);
  CHECK(config.pool.sentinel.refresh_min_interval == 1s);
  CHECK(config.pool.sentinel.password.empty());
}

TEST_CASE("sentinel pool errors name their key", "[config][sentinel]") {
  CHECK(error_of(kHead) ==
        "t.yaml:2:9: pool.type: a sentinel pool needs pool.sentinel: {master: <name>, "
        "sentinels: [host:port, ...]}");
  CHECK(error_of(kHead + "  sentinel: {sentinels: [127.0.0.1:26379]}\n") ==
        "t.yaml:3:13: pool.sentinel: missing required key 'master'");
  CHECK(error_of(kHead + "  sentinel: {master: m, sentinels: []}\n") ==
        "t.yaml:3:36: pool.sentinel.sentinels: at least one Sentinel address (host:port) is "
        "required");
  CHECK_THAT(error_of(kHead + "  sentinel: {master: m, sentinels: [h:1, h:1]}\n"),
             Catch::Contains("pool.sentinel.sentinels[1]: duplicate Sentinel address h:1"));
  CHECK_THAT(error_of(kHead + "  sentinel: {master: m, sentinels: [h]}\n"),
             Catch::Contains("pool.sentinel.sentinels[0]: a Sentinel is host:port"));
  CHECK_THAT(error_of(kHead + "  sentinel: {master: m, sentinels: [h:1], bogus: 1}\n"),
             Catch::Contains("bogus"));
  CHECK_THAT(error_of(kHead + "  sentinel: {master: m, sentinels: [h:1]}\n  nodes: [\"h:2:1\"]\n"),
             Catch::Contains("t.yaml:4:10: pool.nodes: a sentinel pool's node is the primary"));
  CHECK_THAT(error_of(kHead + "  sentinel: {master: m, sentinels: [h:1]}\n  hash_tag: \"{}\"\n"),
             Catch::Contains("pool.hash_tag: hash_tag is a ring option"));
  CHECK_THAT(error_of(kHead + "  sentinel: {master: m, sentinels: [h:1]}\n  cluster: {}\n"),
             Catch::Contains("pool.cluster: only for a cluster pool"));
  CHECK_THAT(error_of("pool:\n  type: cluster\n  nodes: [\"h:1\"]\n  sentinel: {master: m}\n"),
             Catch::Contains("t.yaml:4:13: pool.sentinel: only for a sentinel pool"));
  CHECK_THAT(
      error_of("listen: 127.0.0.1:6380\n" + kHead +
               "  sentinel: {master: m, sentinels: [127.0.0.1:6380]}\n"),
      Catch::Contains("pool.sentinel.sentinels[0]: 127.0.0.1:6380 is sidecache's own listen"));
}

const std::string kRing =
    "pool:\n"
    "  sentinel: {sentinels: [127.0.0.1:26379, 127.0.0.1:26380]}\n"
    "  nodes:\n";

TEST_CASE("a ring's nodes may be Sentinel groups, named by their master", "[config][sentinel]") {
  const auto config = load_string(kRing +
                                      "    - {name: shard-a, master: mymaster-a, weight: 2}\n"
                                      "    - {master: mymaster-b}\n",
                                  "t.yaml");
  const auto& pool = config.pool;
  CHECK(pool.type == PoolType::kRing);
  CHECK(pool.sentinel_groups());
  CHECK(pool.sentinel.master.empty());
  CHECK(pool.sentinel.sentinels.size() == 2);
  REQUIRE(pool.nodes.size() == 2);
  CHECK(pool.nodes[0].name == "shard-a");
  CHECK(pool.nodes[0].master == "mymaster-a");
  CHECK(pool.nodes[0].weight == 2);
  CHECK(pool.nodes[0].address.port == 0);  // filled by the daemon from the Sentinels
  CHECK(pool.nodes[1].name == "mymaster-b");
  CHECK(pool.nodes[1].master == "mymaster-b");
  const auto plain = load_string("pool:\n  nodes: [\"h:1:1\"]\n", "t.yaml");
  CHECK_FALSE(plain.pool.sentinel_groups());
}

TEST_CASE("the ring-of-Sentinel-groups sample loads", "[config][samples][sentinel]") {
  const auto config = load_file(SIDECACHE_SOURCE_DIR "/config/sentinel-ring.yaml");
  CHECK(config.pool.sentinel_groups());
  CHECK(config.pool.nodes.size() == 2);
  CHECK(config.pool.sentinel.sentinels.size() == 3);
}

TEST_CASE("ring of Sentinel groups: errors name their key", "[config][sentinel]") {
  CHECK(error_of(kRing + "    - {name: a, master: m-a}\n    - h:2:1\n") ==
        "t.yaml:5:7: pool.nodes[1]: a ring with pool.sentinel has Sentinel groups as nodes: "
        "{name, master} (one group: pool.type: sentinel)");
  CHECK(error_of(kRing + "    - {name: a, master: m-a, address: h:1}\n") ==
        "t.yaml:4:39: pool.nodes[0].address: a Sentinel group's address is its primary, asked "
        "of the Sentinels (drop address or pool.sentinel)");
  CHECK_THAT(error_of(kRing + "    - {name: a, master: m}\n    - {name: b, master: m}\n"),
             Catch::Contains("t.yaml:5:25: pool.nodes[1].master: duplicate master 'm' (also "
                             "pool.nodes[0])"));
  CHECK_THAT(error_of(kRing + "    - {name: a, master: m}\n    - {name: a, master: n}\n"),
             Catch::Contains("pool.nodes[1].name: duplicate node name 'a'"));
  CHECK_THAT(error_of("pool:\n  nodes:\n    - {name: a, master: m}\n"),
             Catch::Contains("t.yaml:3:25: pool.nodes[0].master: a Sentinel group needs "
                             "pool.sentinel"));
  CHECK_THAT(error_of("pool:\n  sentinel: {master: m, sentinels: [h:1]}\n  nodes:\n"
                      "    - {master: m}\n"),
             Catch::Contains("t.yaml:2:22: pool.sentinel.master: a ring names a master per node"));
  CHECK_THAT(error_of("pool:\n  sentinel: {sentinels: []}\n  nodes:\n    - {master: m}\n"),
             Catch::Contains("pool.sentinel.sentinels: at least one Sentinel address"));
  CHECK_THAT(error_of("pool:\n  type: cluster\n  nodes:\n    - {address: h:1, master: m}\n"),
             Catch::Contains("pool.nodes[0].master: Sentinel groups are nodes of a ring pool"));
  CHECK_THAT(error_of("pool:\n  nodes:\n    - {name: a}\n"),
             Catch::Contains("pool.nodes[0]: missing required key 'address'"));
}

// The write-behind flushers and the invalidation listener follow a new primary (the queues are
// replicated to it), so both are accepted on a sentinel pool and on a ring of groups.
TEST_CASE("write: behind and invalidation_channel on Sentinel-watched pools",
          "[config][sentinel]") {
  const std::string cache =
      "cache:\n"
      "  database: {type: postgres, conninfo: \"host=db\"}\n"
      "  invalidation_channel: keys\n"
      "  policies:\n"
      "    - {match: \"kv:*\", table: kv, key_column: id, value_column: v, write: behind}\n";
  const auto pool =
      load_string(kHead + "  sentinel: {master: m, sentinels: [h:1]}\n" + cache, "t.yaml");
  CHECK(pool.cache.invalidation_channel == "keys");
  REQUIRE(pool.cache.policies.size() == 1);
  CHECK(pool.cache.policies[0].write == WriteMode::kBehind);
  const auto ring = load_string(kRing + "    - {master: m}\n" + cache, "t.yaml");
  CHECK(ring.pool.sentinel_groups());
  CHECK(ring.cache.invalidation_channel == "keys");
}

}  // namespace
}  // namespace sidecache::config
