// The frequency sketch: the doorkeeper absorbs first occurrences, estimates never undercount,
// counters saturate at 15, aging halves them and clears the doorkeeper.
#include <catch2/catch.hpp>

#include <cstdint>

#include "nearcache/frequency_sketch.hpp"
#include "nearcache/key_hash.hpp"

namespace sidecache::nearcache {
namespace {

std::uint64_t h(std::uint64_t i) { return mix64(i + 1); }

TEST_CASE("the doorkeeper takes a key's first occurrence, the sketch the rest", "[nearcache]") {
  FrequencySketch sketch(1000);
  CHECK(sketch.estimate(h(1)) == 0);
  sketch.record(h(1));
  CHECK(sketch.estimate(h(1)) == 1);  // the doorkeeper's bit alone
  sketch.record(h(1));
  CHECK(sketch.estimate(h(1)) == 2);
  for (int i = 0; i < 5; ++i) sketch.record(h(1));
  CHECK(sketch.estimate(h(1)) == 7);
  CHECK(sketch.estimate(h(2)) == 0);
}

TEST_CASE("estimates never undercount and rarely overcount", "[nearcache]") {
  FrequencySketch sketch(4096);
  // 2,000 keys, key i recorded i % 12 times: 11,000 records, below the sample size (40,960).
  for (std::uint64_t i = 0; i < 2000; ++i) {
    for (std::uint64_t n = 0; n < i % 12; ++n) sketch.record(h(i));
  }
  REQUIRE(sketch.agings() == 0);
  int exact = 0;
  for (std::uint64_t i = 0; i < 2000; ++i) {
    const auto e = sketch.estimate(h(i));
    CHECK(e >= i % 12);
    exact += e == i % 12;
  }
  CHECK(exact >= 1900);  // collisions on all 4 rows at once are rare
}

TEST_CASE("counters saturate at 15", "[nearcache]") {
  FrequencySketch sketch(1000);
  for (int i = 0; i < 100; ++i) sketch.record(h(7));
  CHECK(sketch.estimate(h(7)) == FrequencySketch::kMaxCount + 1);  // 15 + the doorkeeper
}

TEST_CASE("aging halves every counter and clears the doorkeeper", "[nearcache]") {
  FrequencySketch sketch(100);
  REQUIRE(sketch.sample_size() == 1000);
  for (int i = 0; i < 11; ++i) sketch.record(h(1));  // doorkeeper + 10 in the sketch
  sketch.record(h(2));                               // doorkeeper only
  CHECK(sketch.estimate(h(1)) == 11);
  CHECK(sketch.estimate(h(2)) == 1);
  // Fill the rest of the period with one other key (it saturates; it does not touch h(1)).
  const std::size_t left = sketch.sample_size() - sketch.samples();
  for (std::size_t i = 0; i < left; ++i) sketch.record(h(3));
  CHECK(sketch.agings() == 1);
  CHECK(sketch.samples() == sketch.sample_size() / 2);
  CHECK(sketch.estimate(h(1)) == 5);  // 10 halved, and no doorkeeper bit any more
  CHECK(sketch.estimate(h(2)) == 0);
  CHECK(sketch.estimate(h(3)) == 7);  // 15 halved
  sketch.record(h(2));                // back in the doorkeeper
  CHECK(sketch.estimate(h(2)) == 1);
}

TEST_CASE("the sketch's memory follows the expected entries", "[nearcache]") {
  FrequencySketch sketch(1000);
  CHECK(sketch.width() == 1024);
  // 4 rows x 1024 4-bit counters = 2 KiB, doorkeeper 16 bits x 1024 = 2 KiB.
  CHECK(sketch.memory_bytes() == 4096);
  CHECK(FrequencySketch::memory_bytes_for(1000) == 4096);
  sketch.record(h(1));
  sketch.record(h(1));
  sketch.clear();
  CHECK(sketch.estimate(h(1)) == 0);
}

}  // namespace
}  // namespace sidecache::nearcache
