// The Sentinel replies a sentinel pool reads: +switch-master payloads, ROLE and
// SENTINEL get-master-addr-by-name, as redis-server 7.0 sends them (RESP2 bytes).
#include "backend/sentinel_topology.hpp"

#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>

using namespace sidecache;
using backend::decode_reply;
using backend::Role;

TEST_CASE("parse_switch_master reads the five words of the message", "[sentinel]") {
  const auto event = backend::parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1 6380");
  REQUIRE(event);
  CHECK(event->master == "mymaster");
  CHECK(event->from == config::Endpoint{"127.0.0.1", 6379});
  CHECK(event->to == config::Endpoint{"127.0.0.1", 6380});
  const auto v6 = backend::parse_switch_master("m ::1 7000 fe80::2 7001");
  REQUIRE(v6);
  CHECK(v6->to.host == "fe80::2");
  CHECK(v6->to.port == 7001);
}

TEST_CASE("parse_switch_master rejects other shapes", "[sentinel]") {
  CHECK_FALSE(backend::parse_switch_master(""));
  CHECK_FALSE(backend::parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1"));
  CHECK_FALSE(backend::parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1 6380 extra"));
  CHECK_FALSE(backend::parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1 port"));
  CHECK_FALSE(backend::parse_switch_master("mymaster 127.0.0.1 0 127.0.0.1 6380"));
  CHECK_FALSE(backend::parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1 65536"));
  CHECK_FALSE(backend::parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1 -1"));
}

TEST_CASE("parse_role reads ROLE of a master, a replica and a Sentinel", "[sentinel]") {
  CHECK(backend::parse_role(decode_reply("*3\r\n$6\r\nmaster\r\n:3129659\r\n*1\r\n*3\r\n$9\r\n"
                                         "127.0.0.1\r\n$4\r\n9001\r\n$7\r\n3129242\r\n")) ==
        Role::kMaster);
  CHECK(backend::parse_role(decode_reply("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:9000\r\n"
                                         "$9\r\nconnected\r\n:3167038\r\n")) == Role::kReplica);
  CHECK(backend::parse_role(decode_reply("*2\r\n$8\r\nsentinel\r\n*1\r\n$8\r\nmymaster\r\n")) ==
        Role::kSentinel);
  CHECK(backend::parse_role(decode_reply("-NOAUTH Authentication required.\r\n")) ==
        Role::kUnknown);
  CHECK(backend::parse_role(decode_reply("*0\r\n")) == Role::kUnknown);
  CHECK(backend::parse_role(decode_reply("+OK\r\n")) == Role::kUnknown);
  CHECK(std::string(backend::role_name(Role::kReplica)) == "replica");
}

TEST_CASE("parse_master_addr reads [ip, port] or nil", "[sentinel]") {
  const auto addr =
      backend::parse_master_addr(decode_reply("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n"));
  REQUIRE(addr);
  CHECK(*addr == config::Endpoint{"127.0.0.1", 6379});
  CHECK_FALSE(backend::parse_master_addr(decode_reply("*-1\r\n")));
  CHECK_FALSE(backend::parse_master_addr(decode_reply("$-1\r\n")));
  CHECK_THROWS_AS(backend::parse_master_addr(decode_reply("-ERR unknown command\r\n")),
                  std::invalid_argument);
  CHECK_THROWS_AS(backend::parse_master_addr(decode_reply("*1\r\n$9\r\n127.0.0.1\r\n")),
                  std::invalid_argument);
  CHECK_THROWS_AS(
      backend::parse_master_addr(decode_reply("*2\r\n$9\r\n127.0.0.1\r\n$4\r\nport\r\n")),
      std::invalid_argument);
}

TEST_CASE("with_primary and without_primary shape a sentinel pool", "[sentinel]") {
  config::Config config;
  config.pool.type = config::PoolType::kSentinel;
  config.pool.sentinel.master = "mymaster";
  const auto down = backend::without_primary(config, "no Sentinel answered");
  REQUIRE(down.pool.nodes.size() == 1);
  CHECK(down.pool.nodes[0].name == "mymaster");
  CHECK(down.pool.unresolved == "no Sentinel answered");
  CHECK_FALSE(backend::primary_of(down.pool));
  const auto up = backend::with_primary(down, config::Endpoint{"10.0.0.2", 6380});
  REQUIRE(up.pool.nodes.size() == 1);
  CHECK(up.pool.nodes[0].name == "10.0.0.2:6380");
  CHECK(up.pool.unresolved.empty());
  CHECK(backend::primary_of(up.pool) == config::Endpoint{"10.0.0.2", 6380});
  config.pool.type = config::PoolType::kRing;
  CHECK_FALSE(backend::primary_of(backend::with_primary(config, {"h", 1}).pool));
}

TEST_CASE("a ring's Sentinel groups keep their names over a change of primary", "[sentinel]") {
  config::PoolConfig pool;
  pool.sentinel.sentinels = {{"127.0.0.1", 26379}};
  for (const char* master : {"m-a", "m-b"}) {
    config::NodeConfig node;
    node.name = std::string("shard-") + master;
    node.master = master;
    pool.nodes.push_back(node);
  }
  CHECK(pool.sentinel_groups());
  CHECK(backend::followed_masters(pool) == std::vector<std::string>{"m-a", "m-b"});
  CHECK(backend::group_of(pool, "m-b") == 1);
  CHECK(backend::group_of(pool, "other") == 2);
  CHECK_FALSE(backend::group_primary(pool, 0));  // not asked yet
  backend::set_group_primary(pool, 0, {"10.0.0.1", 6379});
  CHECK(backend::group_primary(pool, 0) == config::Endpoint{"10.0.0.1", 6379});
  CHECK(pool.nodes[0].name == "shard-m-a");
  backend::clear_group_primary(pool, 0, "10.0.0.1:6379 answers ROLE as a replica");
  CHECK_FALSE(backend::group_primary(pool, 0));
  CHECK(pool.nodes[0].unresolved == "10.0.0.1:6379 answers ROLE as a replica");
  CHECK(pool.nodes[0].name == "shard-m-a");
  backend::clear_group_primary(pool, 1, "");
  CHECK(pool.nodes[1].unresolved == "no Sentinel answered");
  backend::set_group_primary(pool, 1, {"10.0.0.2", 6380});
  CHECK(pool.nodes[1].unresolved.empty());
  CHECK_FALSE(backend::group_primary(pool, 2));
  config::PoolConfig sentinel_pool;
  sentinel_pool.type = config::PoolType::kSentinel;
  sentinel_pool.sentinel.master = "mymaster";
  CHECK(backend::followed_masters(sentinel_pool) == std::vector<std::string>{"mymaster"});
  CHECK(backend::followed_masters(config::PoolConfig{}).empty());
}

TEST_CASE("parse_replicas keeps the replicas the Sentinel does not flag down", "[sentinel]") {
  // Two fields of interest per replica among many (redis 7.0 sends ~40).
  const std::string up =
      "*8\r\n$4\r\nname\r\n$14\r\n127.0.0.1:6381\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n"
      "$4\r\nport\r\n$4\r\n6381\r\n$5\r\nflags\r\n$5\r\nslave\r\n";
  const std::string down =
      "*6\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$4\r\nport\r\n$4\r\n6380\r\n"
      "$5\r\nflags\r\n$25\r\nslave,s_down,disconnected\r\n";
  const std::string other =
      "*6\r\n$5\r\nflags\r\n$5\r\nslave\r\n$2\r\nip\r\n$8\r\n10.0.0.9\r\n"
      "$4\r\nport\r\n$4\r\n6379\r\n";
  const auto replicas = backend::parse_replicas(decode_reply("*3\r\n" + up + down + other));
  REQUIRE(replicas.size() == 2);
  CHECK(replicas[0] == config::Endpoint{"10.0.0.9", 6379});  // sorted
  CHECK(replicas[1] == config::Endpoint{"127.0.0.1", 6381});
  CHECK(backend::parse_replicas(decode_reply("*0\r\n")).empty());
  CHECK_THROWS_AS(backend::parse_replicas(decode_reply("-ERR No such master with that name\r\n")),
                  std::invalid_argument);
  CHECK_THROWS_AS(backend::parse_replicas(decode_reply("$2\r\nno\r\n")), std::invalid_argument);
}

TEST_CASE("with_primary names a sentinel pool's replicas host:port", "[sentinel]") {
  config::Config config;
  config.pool.type = config::PoolType::kSentinel;
  config.pool.sentinel.master = "mymaster";
  const auto up = backend::with_primary(config, {"10.0.0.2", 6380}, {{"10.0.0.3", 6381}});
  REQUIRE(up.pool.replicas.size() == 1);
  CHECK(up.pool.replicas[0].name == "10.0.0.3:6381");
  CHECK(backend::replicas_of(up.pool) == std::vector<config::Endpoint>{{"10.0.0.3", 6381}});
  CHECK(backend::without_primary(up, "gone").pool.replicas.empty());
}
