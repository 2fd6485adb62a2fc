// The hot set the read-through engine asks before reloading a key ahead of its expiry: the N
// hottest keys of a sketch whose counts are certain, nothing else.
#include <catch2/catch.hpp>

#include <string>

#include "hotkeys/hot_set.hpp"
#include "hotkeys/key_hash.hpp"
#include "hotkeys/space_saving.hpp"

namespace sidecache::hotkeys {
namespace {

void add(SpaceSaving& sketch, const std::string& key, int times) {
  for (int i = 0; i < times; ++i) sketch.add(key_hash(key), key);
}

}  // namespace

TEST_CASE("hot set: the N hottest keys of the sketch", "[hotkeys][hot_set]") {
  SpaceSaving sketch(16);
  add(sketch, "a", 50);
  add(sketch, "b", 30);
  add(sketch, "c", 10);
  add(sketch, "d", 1);
  HotSet hot;
  CHECK(hot.empty());
  CHECK_FALSE(hot.contains("a"));
  hot.rebuild(sketch, 2);
  CHECK(hot.size() == 2);
  CHECK(hot.contains("a"));
  CHECK(hot.contains("b"));
  CHECK_FALSE(hot.contains("c"));
  CHECK_FALSE(hot.contains("x"));
  hot.rebuild(sketch, 0);  // refresh_top: 0
  CHECK(hot.empty());
  hot.rebuild(sketch, 3);
  CHECK(hot.contains("c"));
  hot.clear();
  CHECK_FALSE(hot.contains("a"));
}

TEST_CASE("hot set: a key whose count is mostly error is not hot", "[hotkeys][hot_set]") {
  // Two counters: "late" takes over the counter of "b" (count 5 + 1, error 5): one of its six
  // counts is certain, so it stays out; "a" is in.
  SpaceSaving sketch(2);
  add(sketch, "a", 20);
  add(sketch, "b", 5);
  add(sketch, "late", 1);
  HotSet hot;
  hot.rebuild(sketch, 2);
  CHECK(hot.contains("a"));
  CHECK_FALSE(hot.contains("late"));
  CHECK(hot.size() == 1);
}

}  // namespace sidecache::hotkeys
