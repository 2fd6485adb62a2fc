// CLUSTER subcommands a cluster pool answers itself: one node, sidecache's listen address,
// serving every slot.
#include "dispatch/cluster_commands.hpp"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

using namespace sidecache;

namespace {

config::Config cluster_config() {
  config::Config config;
  config.listen = {"127.0.0.1", 6380};
  config.pool.type = config::PoolType::kCluster;
  const std::vector<route::SlotRange> ranges{{0, 16383, "127.0.0.1", 7000, {}}};
  config.pool.slots = std::make_shared<const route::ClusterSlots>(ranges, 3);
  return config;
}

std::string answer(const config::Config& config, std::vector<std::string_view> args,
                   int protocol = 2) {
  std::string out;
  const std::string name = "cluster|" + std::string(args[1]);
  if (!dispatch::answer_cluster_command(name, args, config, protocol, out)) return "(none)";
  return out;
}

}  // namespace

TEST_CASE("a cluster pool answers CLUSTER SLOTS as one node", "[cluster]") {
  const auto config = cluster_config();
  const auto id = dispatch::cluster_node_id(config.listen);
  REQUIRE(id.size() == 40);
  CHECK(answer(config, {"CLUSTER", "slots"}) ==
        "*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:6380\r\n$40\r\n" + id +
            "\r\n*0\r\n");
  CHECK(answer(config, {"CLUSTER", "myid"}) == "$40\r\n" + id + "\r\n");
  CHECK(answer(config, {"CLUSTER", "keyslot", "foo"}) == ":12182\r\n");
}

TEST_CASE("CLUSTER INFO reports every slot on one node", "[cluster]") {
  auto config = cluster_config();
  const auto info = answer(config, {"CLUSTER", "info"});
  CHECK(info.find("cluster_state:ok\r\n") != std::string::npos);
  CHECK(info.find("cluster_slots_assigned:16384\r\n") != std::string::npos);
  CHECK(info.find("cluster_known_nodes:1\r\n") != std::string::npos);
  CHECK(info.find("cluster_current_epoch:3\r\n") != std::string::npos);
  config.pool.slots = nullptr;  // the cluster has not answered yet
  CHECK(answer(config, {"CLUSTER", "info"}).find("cluster_state:fail") != std::string::npos);
}

TEST_CASE("CLUSTER SHARDS uses maps for RESP3 clients", "[cluster]") {
  const auto config = cluster_config();
  CHECK(answer(config, {"CLUSTER", "shards"}).starts_with("*1\r\n*4\r\n$5\r\nslots\r\n"));
  CHECK(answer(config, {"CLUSTER", "shards"}, 3).starts_with("*1\r\n%2\r\n$5\r\nslots\r\n"));
}

TEST_CASE("ring pools and other subcommands are not answered", "[cluster]") {
  auto config = cluster_config();
  CHECK(answer(config, {"CLUSTER", "nodes"}) == "(none)");
  config.pool.type = config::PoolType::kRing;
  CHECK(answer(config, {"CLUSTER", "slots"}) == "(none)");
  CHECK(answer(config, {"CLUSTER", "info"}) == "(none)");
}
