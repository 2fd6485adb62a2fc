#include "route/cluster_slots.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace sidecache::route;

TEST_CASE("crc16 is Redis' XMODEM CRC16", "[cluster]") {
  CHECK(crc16("123456789") == 0x31C3);  // the check value in Redis' crc16.c
  CHECK(crc16("") == 0);
  // Exact-size heap copy so ASan sees an over-read.
  const std::string copy("123456789");
  CHECK(crc16(std::string_view(copy.data(), copy.size())) == 0x31C3);
}

TEST_CASE("key_slot matches CLUSTER KEYSLOT", "[cluster]") {
  // Values from redis-server 7.0 in cluster mode (CLUSTER KEYSLOT).
  CHECK(key_slot("foo") == 12182);
  CHECK(key_slot("bar") == 5061);
  CHECK(key_slot("") == 0);
  CHECK(key_slot("123456789") == 12739);  // 0x31C3 mod 16384
  CHECK(key_slot("hello") == 866);
  CHECK(key_slot("user:1000") == 1649);
  CHECK(key_slot("{user1000}.following") == 3443);
  CHECK(key_slot("foo{}{bar}") == 8363);
  CHECK(key_slot("foo{{bar}}zap") == 4015);
}

TEST_CASE("hash tags follow Redis' rule", "[cluster]") {
  CHECK(cluster_hashable_part("{user1000}.following") == "user1000");
  CHECK(cluster_hashable_part("foo{bar}{zap}") == "bar");      // the first {...}
  CHECK(cluster_hashable_part("foo{}{bar}") == "foo{}{bar}");  // empty: the whole key
  CHECK(cluster_hashable_part("foo{{bar}}zap") == "{bar");     // first '{', first '}' after it
  CHECK(cluster_hashable_part("foo{bar") == "foo{bar");
  CHECK(cluster_hashable_part("}foo{bar}") == "bar");
  CHECK(key_slot("{user1000}.following") == key_slot("{user1000}.followers"));
  CHECK(key_slot("a{x}") == key_slot("x"));
}

TEST_CASE("ClusterSlots maps every slot to its primary", "[cluster]") {
  const std::vector<SlotRange> ranges{{0, 5460, "127.0.0.1", 7001, {}},
                                      {5461, 10922, "127.0.0.1", 7002, {}},
                                      {10923, 16383, "127.0.0.1", 7003, {}}};
  const ClusterSlots map(ranges, 1);
  REQUIRE(map.nodes().size() == 3);
  CHECK(map.nodes()[0].name == "127.0.0.1:7001");
  CHECK(map.node_of_slot(0) == 0);
  CHECK(map.node_of_slot(5460) == 0);
  CHECK(map.node_of_slot(5461) == 1);
  CHECK(map.node_of_slot(16383) == 2);
  CHECK(map.covered() == 16384);
  CHECK(map.node_for_key("foo") == 2);  // slot 12182
  CHECK(map.find("127.0.0.1:7002") == 1);
  CHECK(map.find("127.0.0.1:9999") == 3);
  CHECK(map.epoch() == 1);
}

TEST_CASE("ClusterSlots numbers nodes by name, whatever the reply's order", "[cluster]") {
  const std::vector<SlotRange> a{{0, 99, "127.0.0.1", 7002, {}},
                                 {100, 16383, "127.0.0.1", 7001, {}}};
  const std::vector<SlotRange> b{{100, 16383, "127.0.0.1", 7001, {}},
                                 {0, 99, "127.0.0.1", 7002, {}}};
  const ClusterSlots x(a, 1);
  const ClusterSlots y(b, 2);
  CHECK(x.same_topology(y));
  CHECK(x.node_of_slot(0) == 1);
  const std::vector<SlotRange> c{{0, 100, "127.0.0.1", 7002, {}},
                                 {101, 16383, "127.0.0.1", 7001, {}}};
  CHECK_FALSE(x.same_topology(ClusterSlots(c, 3)));
  // Several ranges of one primary, a gap (slots 200-299 uncovered go to node 0).
  const std::vector<SlotRange> d{
      {0, 99, "::1", 7001, {}}, {300, 16383, "::1", 7001, {}}, {100, 199, "h", 1, {}}};
  const ClusterSlots z(d, 4);
  CHECK(z.nodes().size() == 2);
  CHECK(z.nodes()[0].name == "[::1]:7001");
  CHECK(z.covered() == 16384 - 100);
}

TEST_CASE("ClusterSlots rejects bad ranges", "[cluster]") {
  CHECK_THROWS_AS(ClusterSlots({}, 1), std::invalid_argument);
  const std::vector<SlotRange> reversed{{10, 5, "h", 1, {}}};
  CHECK_THROWS_AS(ClusterSlots(reversed, 1), std::invalid_argument);
  const std::vector<SlotRange> beyond{{0, 16384, "h", 1, {}}};
  CHECK_THROWS_AS(ClusterSlots(beyond, 1), std::invalid_argument);
  const std::vector<SlotRange> no_port{{0, 1, "h", 0, {}}};
  CHECK_THROWS_AS(ClusterSlots(no_port, 1), std::invalid_argument);
}

TEST_CASE("parse_redirect reads MOVED and ASK", "[cluster]") {
  Redirect r;
  REQUIRE(parse_redirect("MOVED 3999 127.0.0.1:6381", r));
  CHECK(r.kind == Redirect::Kind::kMoved);
  CHECK(r.slot == 3999);
  CHECK(r.target == "127.0.0.1:6381");
  REQUIRE(parse_redirect("ASK 0 [::1]:7000\r\n", r));
  CHECK(r.kind == Redirect::Kind::kAsk);
  CHECK(r.target == "[::1]:7000");
  CHECK_FALSE(parse_redirect("MOVED 16384 h:1", r));
  CHECK_FALSE(parse_redirect("MOVED x h:1", r));
  CHECK_FALSE(parse_redirect("MOVED 1", r));
  CHECK_FALSE(parse_redirect("ERR MOVED 1 h:1", r));
  CHECK_FALSE(parse_redirect("TRYAGAIN Multiple keys request during rehashing of slot", r));
}

TEST_CASE("follow_pinned_redirect: MOVED within max_redirects, ASK only when asked", "[cluster]") {
  Redirect r;
  REQUIRE(follow_pinned_redirect("-MOVED 12 127.0.0.1:7002\r\n", 0, 5, false, r));
  CHECK(r.kind == Redirect::Kind::kMoved);
  CHECK(r.slot == 12);
  CHECK(r.target == "127.0.0.1:7002");
  CHECK(follow_pinned_redirect("-MOVED 12 127.0.0.1:7002\r\n", 4, 5, false, r));
  CHECK_FALSE(follow_pinned_redirect("-MOVED 12 127.0.0.1:7002\r\n", 5, 5, false, r));
  CHECK_FALSE(follow_pinned_redirect("-MOVED 12 127.0.0.1:7002\r\n", 0, 0, true, r));
  CHECK_FALSE(follow_pinned_redirect("-ASK 12 127.0.0.1:7002\r\n", 0, 5, false, r));
  REQUIRE(follow_pinned_redirect("-ASK 12 127.0.0.1:7002\r\n", 0, 5, true, r));
  CHECK(r.kind == Redirect::Kind::kAsk);
  // Anything else is the client's: successes, other errors, a malformed redirect, RESP3.
  CHECK_FALSE(follow_pinned_redirect("+QUEUED\r\n", 0, 5, true, r));
  CHECK_FALSE(follow_pinned_redirect("*2\r\n$5\r\nMOVED\r\n$1\r\nx\r\n", 0, 5, true, r));
  CHECK_FALSE(follow_pinned_redirect("-CROSSSLOT Keys in request don't hash\r\n", 0, 5, true, r));
  CHECK_FALSE(follow_pinned_redirect("-MOVED 99999 h:1\r\n", 0, 5, true, r));
  CHECK_FALSE(follow_pinned_redirect("-", 0, 5, true, r));
  CHECK_FALSE(follow_pinned_redirect("", 0, 5, true, r));
}
