// Cache policies on a cluster pool: read-through, through, invalidate and the invalidation
// channel load, and write: behind (one queue per slot).
#include <catch2/catch.hpp>

#include "config/config.hpp"
#include "error_of.hpp"

namespace sidecache::config {
namespace {

using testing::error_of;

const std::string kCluster =
    "pool:\n  type: cluster\n  nodes: [127.0.0.1:7000]\ncache:\n"
    "  database: {type: postgres, conninfo: \"host=db\"}\n";

TEST_CASE("a cluster pool takes read-through and write-through policies", "[config][cluster]") {
  const auto config = load_string(
      kCluster +
          "  invalidation_channel: keys\n  policies:\n"
          "    - {match: \"p:*\", table: t, key_column: id, value_column: v, lease: true}\n"
          "    - {match: \"u:*\", table: u, key_column: id, value_column: v, write: through}\n"
          "    - {match: \"i:*\", table: i, key_column: id, value_column: v, "
          "write: invalidate}\n",
      "t.yaml");
  CHECK(config.pool.type == PoolType::kCluster);
  CHECK(config.cache.policies.size() == 3);
  CHECK(config.cache.invalidation_channel == "keys");
}

TEST_CASE("write: behind loads on a cluster pool", "[config][cluster]") {
  const auto config =
      load_string(kCluster +
                      "  policies:\n"
                      "    - {match: \"p:*\", table: t, key_column: id, value_column: v}\n"
                      "    - match: \"u:*\"\n      table: u\n      key_column: id\n"
                      "      value_column: v\n      write: behind\n",
                  "t.yaml");
  REQUIRE(config.cache.policies.size() == 2);
  CHECK(config.cache.policies[1].write == WriteMode::kBehind);
}

TEST_CASE("the near cache loads on a cluster pool reading from primaries", "[config][cluster]") {
  const auto config = load_string(
      "pool:\n  type: cluster\n  nodes: [127.0.0.1:7000]\n"
      "near_cache:\n  enabled: true\n  patterns: [\"user:*\"]\n",
      "t.yaml");
  CHECK(config.near_cache.enabled);
  CHECK(config.pool.cluster.read_from == ReadFrom::kPrimary);
}

TEST_CASE("the near cache is refused on a cluster pool reading from replicas",
          "[config][cluster]") {
  CHECK_THAT(error_of("pool:\n  type: cluster\n  nodes: [127.0.0.1:7000]\n"
                      "  cluster:\n    read_from: prefer_replica\n"
                      "near_cache:\n  enabled: true\n  patterns: [\"user:*\"]\n"),
             Catch::StartsWith("t.yaml:5:16: pool.cluster.read_from: the near cache on a cluster "
                               "pool needs read_from: primary"));
}

}  // namespace
}  // namespace sidecache::config
