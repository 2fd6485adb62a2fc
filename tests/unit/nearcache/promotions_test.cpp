// Promoted keys: requests, collisions with the tracked prefixes and each other, activation once
// every node acknowledged, refusals, the cap, clearing, and matching through NearSettings.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "nearcache/near_cache.hpp"
#include "nearcache/promotions.hpp"

namespace sidecache::nearcache {

TEST_CASE("promotions: active once every node acknowledged", "[near]") {
  Promotions p;
  p.configure(3, {"user:", "__sidecache:l1lag:ab:"});
  const auto v0 = p.version();
  CHECK(p.request("hot:1"));
  CHECK_FALSE(p.request("hot:1"));  // known
  CHECK(p.version() != v0);
  CHECK(p.wanted() == std::vector<std::string>{"hot:1"});
  CHECK_FALSE(p.active("hot:1"));
  p.acknowledged(0, 2, {"hot:1"});
  CHECK_FALSE(p.active("hot:1"));
  p.acknowledged(0, 2, {"hot:1"});  // the same node again: still one
  CHECK_FALSE(p.active("hot:1"));
  p.acknowledged(1, 2, {"hot:1"});
  CHECK(p.active("hot:1"));
  CHECK_FALSE(p.active("hot:2"));
  CHECK(p.active_count() == 1);
  CHECK(p.promotions() == 1);
  CHECK(p.wanted() == std::vector<std::string>{"hot:1"});  // still registered on reconnects
}

TEST_CASE("promotions: overlapping names, refusals, the cap, clear", "[near]") {
  Promotions p;
  p.configure(3, {"user:"});
  CHECK_FALSE(p.request("user:7"));  // covered by a tracked prefix
  CHECK_FALSE(p.request("use"));     // a prefix of one: Redis would refuse it
  CHECK(p.refusals() == 2);
  CHECK(p.request("a:1"));
  CHECK_FALSE(p.request("a:10"));  // overlaps a promoted key
  CHECK_FALSE(p.request("a:"));
  CHECK(p.request("b"));
  p.refused({"b"});  // a node said no: never asked again
  CHECK_FALSE(p.request("b"));
  CHECK(p.wanted() == std::vector<std::string>{"a:1"});
  CHECK(p.request("c"));
  CHECK(p.request("d"));
  CHECK_FALSE(p.request("e"));  // max_keys 3 (a:1, c, d)
  CHECK_FALSE(p.request(""));
  p.acknowledged(0, 1, {"a:1", "c"});
  CHECK(p.active("a:1"));
  p.clear();
  CHECK_FALSE(p.active("a:1"));
  CHECK(p.active_count() == 0);
  CHECK(p.wanted().empty());
  CHECK(p.request("b"));  // refusals forgotten too
}

TEST_CASE("promotions: NearSettings::matches admits active keys when promote is on", "[near]") {
  StoreOptions options;
  options.max_memory = 1 << 20;
  options.shards = 1;
  NearSettings s;
  s.patterns = {"user:*"};
  s.promote = true;
  NearCache near(options, s);
  near.promotions().configure(8, {"user:"});
  REQUIRE(near.promotions().request("hot"));
  CHECK_FALSE(near.settings()->matches("hot"));
  near.promotions().acknowledged(0, 1, {"hot"});
  CHECK(near.settings()->matches("hot"));
  CHECK(near.settings()->matches("user:1"));
  s.promote = false;
  near.set_settings(s);
  CHECK_FALSE(near.settings()->matches("hot"));
}

}  // namespace sidecache::nearcache
