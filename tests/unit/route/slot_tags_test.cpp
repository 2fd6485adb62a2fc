#include "route/slot_tags.hpp"

#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "route/cluster_slots.hpp"

using namespace sidecache::route;

TEST_CASE("slot_tag: every slot has a short tag that hashes to it", "[cluster]") {
  std::set<std::string> seen;
  for (std::uint32_t slot = 0; slot < kClusterSlots; ++slot) {
    const auto tag = slot_tag(static_cast<std::uint16_t>(slot));
    REQUIRE(!tag.empty());
    REQUIRE(tag.size() <= 3);
    for (const char c : tag) {
      REQUIRE(((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')));
    }
    REQUIRE(key_slot(tag) == slot);
    // In braces it is the hash tag of any name it starts.
    REQUIRE(key_slot("p:{" + std::string(tag) + "}x{y}") == slot);
    seen.emplace(tag);
  }
  CHECK(seen.size() == kClusterSlots);
}

TEST_CASE("slot_tag: pinned values (every process must name side keys alike)", "[cluster]") {
  // The first [0-9A-Za-z] string, shortest first, whose CRC16 lands in the slot.
  CHECK(slot_tag(0) == "06S");
  CHECK(slot_tag(1) == "Qi");
  CHECK(slot_tag(12182) == "9Le");  // CLUSTER KEYSLOT foo
  CHECK(slot_tag(16383) == "6ZJ");
  CHECK(slot_tag(key_slot("0")) == "0");
}
