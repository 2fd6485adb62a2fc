// The near cache on a cluster pool: which slots a new slot map drops, and the lag markers'
// keys (each must hash to a slot of its own primary).
#include "nearcache/cluster_slots.hpp"

#include <catch2/catch.hpp>
#include <vector>

namespace sidecache::nearcache {
namespace {

route::SlotRange range(std::uint16_t first, std::uint16_t last, std::uint16_t port) {
  route::SlotRange r;
  r.first = first;
  r.last = last;
  r.host = "127.0.0.1";
  r.port = port;
  return r;
}

route::ClusterSlots map(std::vector<route::SlotRange> ranges) {
  return route::ClusterSlots(ranges, 1);
}

TEST_CASE("the same slot map moves no slot", "[nearcache][cluster]") {
  const auto a = map({range(0, 5460, 7000), range(5461, 10922, 7001), range(10923, 16383, 7002)});
  const auto b = map({range(10923, 16383, 7002), range(0, 5460, 7000), range(5461, 10922, 7001)});
  CHECK(moved_slots(a, b).none());
}

TEST_CASE("a slot given to another primary is moved, the others are not", "[nearcache][cluster]") {
  const auto a = map({range(0, 5460, 7000), range(5461, 10922, 7001), range(10923, 16383, 7002)});
  const auto b = map({range(0, 5459, 7000), range(5460, 5460, 7001), range(5461, 10922, 7001),
                      range(10923, 16383, 7002)});
  const auto moved = moved_slots(a, b);
  CHECK(moved.count() == 1);
  CHECK(moved.test(5460));
  // "foo" is in slot 12182, owned by 7002 in both maps.
  CHECK(route::key_slot("foo") == 12182);
  CHECK_FALSE(in_slots(moved, "foo"));
  CHECK(route::key_slot("user:{41402}") == 5460);
  CHECK(in_slots(moved, "user:{41402}"));
}

TEST_CASE("owners are compared by name, not by index", "[nearcache][cluster]") {
  // 7001 replaced by 7003 (a failover): its slots moved although the index is the same.
  const auto a = map({range(0, 8191, 7000), range(8192, 16383, 7001)});
  const auto b = map({range(0, 8191, 7000), range(8192, 16383, 7003)});
  const auto moved = moved_slots(a, b);
  CHECK(moved.count() == 8192);
  CHECK_FALSE(moved.test(0));
  CHECK(moved.test(8192));
  CHECK(moved.test(16383));
}

TEST_CASE("a lag marker hashes to a slot of its own primary", "[nearcache][cluster]") {
  const auto slots =
      map({range(0, 5460, 7000), range(5461, 10922, 7001), range(10923, 16383, 7002)});
  for (std::uint32_t node = 0; node < 3; ++node) {
    const auto key = cluster_marker_key("__sidecache:l1lag:ab:", node, slots);
    REQUIRE_FALSE(key.empty());
    CHECK(key.rfind("__sidecache:l1lag:ab:" + std::to_string(node) + ":{", 0) == 0);
    CHECK(slots.node_of_slot(route::key_slot(key)) == node);
  }
  // A primary holding one slot still gets one.
  const auto one = map({range(0, 16382, 7000), range(16383, 16383, 7001)});
  const auto key = cluster_marker_key("m:", 1, one);
  REQUIRE_FALSE(key.empty());
  CHECK(route::key_slot(key) == 16383);
  // A node index owning nothing: no marker.
  CHECK(cluster_marker_key("m:", 5, one).empty());
}

}  // namespace
}  // namespace sidecache::nearcache
