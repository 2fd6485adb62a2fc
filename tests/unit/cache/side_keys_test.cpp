#include "cache/side_keys.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "cache/generation.hpp"
#include "route/cluster_slots.hpp"

using namespace sidecache;
using namespace sidecache::cache;

TEST_CASE("side keys: plain names on a ring, as before") {
  CHECK(negative_key("user:1", SideKeys::kPlain) == "sidecache:neg:user:1");
  CHECK(lease_key("user:1", SideKeys::kPlain) == "sidecache:lease:user:1");
  CHECK(generation_key("user:1", SideKeys::kPlain) == "sidecache:gen:user:1");
  CHECK(negative_key("{a}b", SideKeys::kPlain) == "sidecache:neg:{a}b");
}

TEST_CASE("side keys: on a cluster pool in the key's slot, whatever braces the key holds") {
  const std::vector<std::string> keys{
      "",           "user:1",        "product:42", "{user1000}.following",
      "foo{}{bar}", "foo{{bar}}zap", "}",          "{",
      "{}",         "a}b{c",         "x{y",        "{a}{b}",
      "}{x}",       "{}x{y}",        "a\r\nb",     std::string("\0k\xff", 3)};
  for (const auto& key : keys) {
    const auto slot = route::key_slot(key);
    for (const auto& side :
         {negative_key(key, SideKeys::kSlotTagged), lease_key(key, SideKeys::kSlotTagged),
          generation_key(key, SideKeys::kSlotTagged)}) {
      INFO("key '" << key << "' side key '" << side << "'");
      CHECK(route::key_slot(side) == slot);
      CHECK(side.size() > key.size());
      CHECK(side.compare(side.size() - key.size(), key.size(), key) == 0);  // ends with the key
    }
  }
  // Many keys, spread over the slots.
  for (int i = 0; i < 20000; ++i) {
    const std::string key = "k:" + std::to_string(i) + (i % 3 == 0 ? "}" : "");
    REQUIRE(route::key_slot(negative_key(key, SideKeys::kSlotTagged)) == route::key_slot(key));
  }
  CHECK(negative_key("foo", SideKeys::kSlotTagged) == "sidecache:neg:{9Le}foo");  // slot 12182
  CHECK(lease_key("", SideKeys::kSlotTagged) == "sidecache:lease:{06S}");         // slot 0
  // Distinct keys keep distinct side keys (the key is kept whole after the tag).
  CHECK(negative_key("a", SideKeys::kSlotTagged) != negative_key("b", SideKeys::kSlotTagged));
}
