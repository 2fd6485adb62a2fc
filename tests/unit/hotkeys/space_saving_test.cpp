// The Space-Saving sketch against exact counts: the hottest keys in order on a skewed stream,
// the error bound on every counter, the capacity bound, aging, and long keys.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "hotkeys/key_hash.hpp"
#include "hotkeys/space_saving.hpp"

namespace sidecache::hotkeys {
namespace {

void add(SpaceSaving& sketch, const std::string& key) { sketch.add(key_hash(key), key); }

// Zipf(s) over n keys, by inverse CDF on a fixed seed.
std::vector<std::string> zipf_stream(std::size_t n, double s, std::size_t length,
                                     std::uint32_t seed) {
  std::vector<double> cdf(n);
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) cdf[i] = sum += 1.0 / std::pow(double(i + 1), s);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, sum);
  std::vector<std::string> out;
  out.reserve(length);
  for (std::size_t i = 0; i < length; ++i) {
    const auto rank = std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin();
    out.push_back("key:" + std::to_string(rank));
  }
  return out;
}

// Checks the sketch's structure through its public view: hottest first, counts sum to the
// total (exact while nothing was aged), errors below counts.
void check_shape(const SpaceSaving& sketch, bool aged) {
  const auto all = sketch.top(sketch.capacity() + 1);
  REQUIRE(all.size() == sketch.size());
  REQUIRE(sketch.size() <= sketch.capacity());
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (i > 0) REQUIRE(all[i - 1].count >= all[i].count);
    REQUIRE(all[i].error <= all[i].count);
    REQUIRE(all[i].count > 0);
    sum += all[i].count;
  }
  if (!aged) REQUIRE(sum == sketch.total());
}

}  // namespace

TEST_CASE("the hottest keys of a skewed stream come out exactly, in order", "[hotkeys]") {
  // 25950 occurrences over 256 counters: every key above 101 holds a counter, and the hot
  // keys, first seen early, carry errors far below the 90 that separates them.
  SpaceSaving sketch(256);
  std::vector<std::string> stream;
  for (int k = 0; k < 10; ++k) {
    for (int i = 0; i < 1000 - 90 * k; ++i) stream.push_back("hot:" + std::to_string(k));
  }
  for (int i = 0; i < 20000; ++i) stream.push_back("cold:" + std::to_string(i));  // once each
  std::shuffle(stream.begin(), stream.end(), std::mt19937(7));
  for (const auto& key : stream) add(sketch, key);

  const auto top = sketch.top(10);
  REQUIRE(top.size() == 10);
  for (int k = 0; k < 10; ++k) {
    CAPTURE(k);
    CHECK(top[k].key == "hot:" + std::to_string(k));
    const std::uint64_t truth = 1000 - 90 * k;
    CHECK(top[k].count >= truth);
    CHECK(top[k].count - top[k].error <= truth);
  }
  check_shape(sketch, false);
}

TEST_CASE("every counter keeps the Space-Saving error bound on a Zipf stream", "[hotkeys]") {
  const std::uint32_t capacity = GENERATE(8u, 32u, 128u);
  SpaceSaving sketch(capacity);
  std::map<std::uint64_t, std::uint64_t> truth;  // by key hash: a key seen once may lack text
  const auto stream = zipf_stream(5000, 1.1, 100000, capacity);
  for (const auto& key : stream) {
    add(sketch, key);
    ++truth[key_hash(key)];
  }
  check_shape(sketch, false);
  const std::uint64_t total = stream.size();
  REQUIRE(sketch.total() == total);
  const auto all = sketch.top(capacity);
  for (const auto& c : all) {
    const std::uint64_t t = truth[c.hash];
    CAPTURE(c.key, c.count, c.error, t);
    REQUIRE(c.count >= t);
    REQUIRE(c.count - c.error <= t);
    REQUIRE(c.error <= total / capacity);
  }
  // Every key above total / capacity holds a counter.
  for (const auto& [hash, t] : truth) {
    if (t <= total / capacity) continue;
    CAPTURE(hash, t);
    const auto it =
        std::find_if(all.begin(), all.end(), [&](const auto& c) { return c.hash == hash; });
    REQUIRE(it != all.end());
    REQUIRE_FALSE(it->key.empty());  // seen more than once: its text was copied
  }
  REQUIRE(sketch.min_count() == all.back().count);
}

TEST_CASE("the sketch never holds more than its capacity", "[hotkeys]") {
  SpaceSaving sketch(16);
  for (int i = 0; i < 10000; ++i) {
    add(sketch, "k" + std::to_string(i % 997));
    REQUIRE(sketch.size() <= 16);
  }
  REQUIRE(sketch.size() == 16);
  check_shape(sketch, false);
  sketch.clear();
  REQUIRE(sketch.size() == 0);
  REQUIRE(sketch.top(5).empty());
  REQUIRE(sketch.min_count() == 0);
}

TEST_CASE("halving ages the counts; cold keys fade and the structure stays sound", "[hotkeys]") {
  SpaceSaving sketch(8);
  for (int i = 0; i < 100; ++i) add(sketch, "a");
  for (int i = 0; i < 41; ++i) add(sketch, "b");
  for (int i = 0; i < 40; ++i) add(sketch, "c");  // b and c merge into one bucket: 20
  add(sketch, "once");
  sketch.halve();
  auto top = sketch.top(10);
  REQUIRE(top.size() == 3);  // "once" reached 0 and was dropped
  CHECK(top[0].key == "a");
  CHECK(top[0].count == 50);
  CHECK(top[1].count == 20);
  CHECK(top[2].count == 20);
  CHECK(sketch.total() == 91);
  check_shape(sketch, true);

  // A key that cooled down is overtaken by one that heats up.
  for (int i = 0; i < 60; ++i) add(sketch, "new");
  top = sketch.top(1);
  CHECK(top[0].key == "new");
  for (int round = 0; round < 8; ++round) sketch.halve();
  CHECK(sketch.size() == 0);
  CHECK(sketch.total() == 0);

  // Random adds and halvings keep the shape.
  std::mt19937 rng(3);
  for (int i = 0; i < 20000; ++i) {
    if (rng() % 1000 == 0) {
      sketch.halve();
      check_shape(sketch, true);
    } else {
      add(sketch, "r" + std::to_string(rng() % 50));
    }
  }
  check_shape(sketch, true);
}

TEST_CASE("long keys are counted whole but kept for display cut short", "[hotkeys]") {
  SpaceSaving sketch(8);
  const std::string prefix(200, 'x');
  for (int i = 0; i < 3; ++i) add(sketch, prefix + "-one");
  for (int i = 0; i < 2; ++i) add(sketch, prefix + "-two");
  const auto top = sketch.top(8);
  REQUIRE(top.size() == 2);  // same first 128 bytes, still two keys
  CHECK(top[0].count == 3);
  CHECK(top[0].key_len == 204);
  CHECK(top[0].key == prefix.substr(0, SpaceSaving::kKeyBytes));
  CHECK(top[1].hash == key_hash(prefix + "-two"));
  CHECK(top[1].key_len == 204);
}

TEST_CASE("a key that takes over a counter gets its text when it comes again", "[hotkeys]") {
  SpaceSaving sketch(2);
  add(sketch, "a");
  add(sketch, "a");
  add(sketch, "b");
  add(sketch, "c");  // takes over b's counter: count 2, error 1, no text yet
  auto top = sketch.top(2);
  REQUIRE(top.size() == 2);
  const auto& c = top[0].hash == key_hash("c") ? top[0] : top[1];
  CHECK(c.hash == key_hash("c"));
  CHECK(c.key.empty());
  CHECK(c.key_len == 1);
  CHECK(c.error == 1);
  add(sketch, "c");
  top = sketch.top(1);
  CHECK(top[0].key == "c");
  CHECK(top[0].count == 3);
}

TEST_CASE("binary and empty keys", "[hotkeys]") {
  SpaceSaving sketch(4);
  const std::string binary("a\0\xff\r\n", 5);
  add(sketch, binary);
  add(sketch, binary);
  add(sketch, "");
  const auto top = sketch.top(4);
  REQUIRE(top.size() == 2);
  CHECK(top[0].key == binary);
  CHECK(top[1].key.empty());
  CHECK(top[1].key_len == 0);
}

TEST_CASE("key_hash is MurmurHash64A with seed 0", "[hotkeys]") {
  // Golden values from a reference implementation of the published algorithm.
  CHECK(hash_hex(key_hash("hot")) == "a9b6001cf6a6d611");
  CHECK(hash_hex(key_hash("a")) == "071717d2d36b6b11");
  CHECK(hash_hex(key_hash("")) == "0000000000000000");
  CHECK(hash_hex(key_hash(std::string("bin\0\xff\"q", 7))) == "eff9553ec73e8720");
  CHECK(hash_hex(key_hash("0123456789abcdef_x")) == "eae49ed5b8b3e5d5");
}

}  // namespace sidecache::hotkeys
