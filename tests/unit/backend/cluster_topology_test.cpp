// The CLUSTER SLOTS reply parser: replies as redis-server 7.0 sends them (RESP2 bytes).
#include "backend/cluster_topology.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace sidecache;

namespace {

std::string node(const std::string& host, int port, const std::string& id) {
  return "*4\r\n$" + std::to_string(host.size()) + "\r\n" + host + "\r\n:" + std::to_string(port) +
         "\r\n$" + std::to_string(id.size()) + "\r\n" + id + "\r\n*0\r\n";
}

std::string range(int first, int last, const std::string& primary, const std::string& replica) {
  return std::string(replica.empty() ? "*3" : "*4") + "\r\n:" + std::to_string(first) +
         "\r\n:" + std::to_string(last) + "\r\n" + primary + replica;
}

}  // namespace

TEST_CASE("parse_cluster_slots reads primaries of CLUSTER SLOTS", "[cluster]") {
  const std::string reply =
      "*3\r\n" + range(0, 5460, node("127.0.0.1", 7001, "a"), "") +
      range(5461, 10922, node("127.0.0.1", 7002, "b"), node("127.0.0.1", 7005, "e")) +
      range(10923, 16383, node("", 7003, "c"), "");
  const auto ranges = backend::parse_cluster_slots(backend::decode_reply(reply), "10.0.0.9");
  REQUIRE(ranges.size() == 3);
  CHECK(ranges[0].first == 0);
  CHECK(ranges[0].last == 5460);
  CHECK(ranges[0].host == "127.0.0.1");
  CHECK(ranges[0].port == 7001);
  CHECK(ranges[1].port == 7002);        // the primary, not the replica
  CHECK(ranges[2].host == "10.0.0.9");  // empty host: the node asked
  const route::ClusterSlots map(ranges, 1);
  CHECK(map.covered() == 16384);
  CHECK(map.nodes().size() == 3);
  CHECK(map.nodes()[2].name == "127.0.0.1:7002");
  // Replicas: listed with their primary (read_from), empty host again the node asked.
  CHECK(ranges[0].replicas.empty());
  REQUIRE(ranges[1].replicas.size() == 1);
  CHECK(ranges[1].replicas[0].host == "127.0.0.1");
  CHECK(ranges[1].replicas[0].port == 7005);
  REQUIRE(map.nodes()[2].replicas.size() == 1);
  CHECK(map.nodes()[2].replicas[0].name == "127.0.0.1:7005");
  CHECK(map.nodes()[0].replicas.empty());
}

TEST_CASE("ClusterSlots sees a replica change as a topology change", "[cluster]") {
  const auto parse = [](const std::string& replica) {
    const std::string reply = "*1\r\n" + range(0, 16383, node("h", 7001, "a"), replica);
    return route::ClusterSlots(backend::parse_cluster_slots(backend::decode_reply(reply), "h"), 1);
  };
  const auto none = parse("");
  const auto one = parse(node("h", 7004, "d"));
  const auto other = parse(node("", 7005, "e"));
  CHECK(one.same_topology(parse(node("h", 7004, "d"))));
  CHECK_FALSE(none.same_topology(one));
  CHECK_FALSE(one.same_topology(other));
  CHECK(other.nodes()[0].replicas[0].name == "h:7005");
}

TEST_CASE("parse_cluster_slots rejects other shapes", "[cluster]") {
  using backend::decode_reply;
  using backend::parse_cluster_slots;
  CHECK_THROWS_AS(parse_cluster_slots(decode_reply("-ERR This instance has cluster support "
                                                   "disabled\r\n"),
                                      "h"),
                  std::invalid_argument);
  CHECK_THROWS_AS(parse_cluster_slots(decode_reply("+OK\r\n"), "h"), std::invalid_argument);
  CHECK_THROWS_AS(parse_cluster_slots(decode_reply("*1\r\n*2\r\n:0\r\n:1\r\n"), "h"),
                  std::invalid_argument);
  CHECK_THROWS_AS(
      parse_cluster_slots(decode_reply("*1\r\n" + range(0, 16384, node("h", 1, "x"), "")), "h"),
      std::invalid_argument);
  CHECK_THROWS_AS(
      parse_cluster_slots(decode_reply("*1\r\n" + range(0, 1, node("h", 0, "x"), "")), "h"),
      std::invalid_argument);
  CHECK(parse_cluster_slots(decode_reply("*0\r\n"), "h").empty());
}
