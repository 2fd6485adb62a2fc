// Merging the workers' sketches, and the tracker's aging and rates on an injected clock.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "hotkeys/board.hpp"
#include "hotkeys/key_hash.hpp"
#include "hotkeys/tracker.hpp"

namespace sidecache::hotkeys {
namespace {

using namespace std::chrono_literals;

Snapshot::Entry entry(const std::string& key, std::uint64_t count, std::uint64_t error = 0) {
  return Snapshot::Entry{key_hash(key), key, static_cast<std::uint32_t>(key.size()), count, error};
}

config::HotKeysConfig options(std::uint32_t capacity, std::chrono::milliseconds half_life = 10s) {
  config::HotKeysConfig config;
  config.capacity = capacity;
  config.half_life = half_life;
  config.sample = 1;
  return config;
}

}  // namespace

TEST_CASE("merging two sketches adds counts and rates", "[hotkeys]") {
  Snapshot a;
  a.window_seconds = 2;
  a.entries = {entry("x", 100), entry("y", 40)};
  Snapshot b;
  b.window_seconds = 4;
  b.entries = {entry("y", 200), entry("x", 20)};
  const Snapshot both[] = {a, b};
  const auto merged = merge(both, 10);
  REQUIRE(merged.size() == 2);
  CHECK(merged[0].key == "y");  // 40/2 + 200/4 = 70 per second
  CHECK(merged[0].rate == Approx(70));
  CHECK(merged[0].count == 240);
  CHECK(merged[1].key == "x");  // 100/2 + 20/4 = 55
  CHECK(merged[1].rate == Approx(55));
  CHECK(merged[1].hash == key_hash("x"));
  CHECK(merge(both, 1).size() == 1);
}

TEST_CASE("a full sketch without a key adds its smallest count as error", "[hotkeys]") {
  Snapshot full;
  full.window_seconds = 1;
  full.min_count = 5;  // full: an absent key may have been seen 5 times here
  full.entries = {entry("x", 50), entry("z", 5, 2)};
  Snapshot other;
  other.window_seconds = 1;
  other.sample = 2;  // one in two counted: counts and rates double
  other.entries = {entry("y", 30)};
  const Snapshot both[] = {full, other};
  const auto merged = merge(both, 10);
  REQUIRE(merged.size() == 3);
  CHECK(merged[0].key == "y");
  CHECK(merged[0].count == 65);  // 30 * 2 + 5 from the full sketch
  CHECK(merged[0].error == 5);
  CHECK(merged[0].rate == Approx(65));
  CHECK(merged[1].key == "x");
  CHECK(merged[1].count == 50);  // `other` is not full: adds nothing
  CHECK(merged[1].error == 0);
  CHECK(merged[2].key == "z");
  CHECK(merged[2].error == 2);
}

TEST_CASE("the board merges the workers' published snapshots", "[hotkeys]") {
  Board board(2);
  CHECK(board.top(5).empty());
  Snapshot s;
  s.window_seconds = 1;
  s.entries = {entry("k", 3)};
  board.publish(1, s);
  CHECK(s.entries.empty());  // the previous (empty) snapshot came back for reuse
  CHECK(board.entries() == 1);
  const auto top = board.top(5);
  REQUIRE(top.size() == 1);
  CHECK(top[0].key == "k");
  CHECK_THROWS(board.publish(2, s));
}

TEST_CASE("the tracker's rates follow the aged window", "[hotkeys]") {
  Board board(1);
  const auto t0 = Tracker::Clock::time_point{} + 1h;
  Tracker tracker(options(16, 4s), &board, 0, t0);
  for (int i = 0; i < 100; ++i) tracker.record("hot");
  for (int i = 0; i < 10; ++i) tracker.record("warm");
  CHECK(board.top(5).empty());  // nothing published before the first tick
  tracker.tick(t0 + 2s);
  auto top = board.top(5);
  REQUIRE(top.size() == 2);
  CHECK(top[0].key == "hot");
  CHECK(top[0].rate == Approx(50));
  CHECK(top[1].rate == Approx(5));

  // At the half-life the counts and the window halve: a steady rate reads the same.
  for (int i = 0; i < 100; ++i) tracker.record("hot");
  tracker.tick(t0 + 4s);
  CHECK(tracker.window_seconds() == Approx(2));
  top = board.top(5);
  CHECK(top[0].count == 100);
  CHECK(top[0].rate == Approx(50));

  // A key that stops fades: after enough half-lives it is gone.
  for (int i = 1; i <= 10; ++i) tracker.tick(t0 + 4s + i * 4s);
  CHECK(board.top(5).empty());
  CHECK(tracker.sketch().size() == 0);
}

TEST_CASE("sampling counts about one in n and scales back", "[hotkeys]") {
  Board board(1);
  const auto t0 = Tracker::Clock::time_point{} + 1h;
  auto config = options(16);
  config.sample = 4;
  Tracker tracker(config, &board, 0, t0);
  for (int i = 0; i < 40000; ++i) tracker.record(i % 4 == 0 ? "a" : "b");  // 1:3
  tracker.tick(t0 + 1s);
  const auto top = board.top(2);
  REQUIRE(top.size() == 2);
  CHECK(top[0].key == "b");
  CHECK(top[0].rate == Approx(30000).epsilon(0.05));
  CHECK(top[1].rate == Approx(10000).epsilon(0.08));
}

}  // namespace sidecache::hotkeys

namespace sidecache::hotkeys {

TEST_CASE("a stalled worker ages once per half-life that passed", "[hotkeys]") {
  using namespace std::chrono_literals;
  Board board(1);
  const auto t0 = Tracker::Clock::time_point{} + 1h;
  config::HotKeysConfig config;
  config.half_life = 1s;
  config.sample = 1;
  Tracker tracker(config, &board, 0, t0);
  for (int i = 0; i < 800; ++i) tracker.record("k");
  tracker.tick(t0 + 3500ms);  // three half-lives at once
  CHECK(tracker.window_seconds() == Approx(3.5 / 8));
  CHECK(tracker.sketch().top(1)[0].count == 100);
  tracker.tick(t0 + 4s);  // the fourth, on time
  CHECK(tracker.sketch().top(1)[0].count == 50);
}

}  // namespace sidecache::hotkeys
