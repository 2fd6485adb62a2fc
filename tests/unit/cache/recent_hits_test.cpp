#include "cache/recent_hits.hpp"

#include <catch2/catch.hpp>
#include <string>

using sidecache::cache::RecentHits;
using namespace std::chrono_literals;

TEST_CASE("recent hits: a key is expected to hit until its known expiry") {
  RecentHits r;
  const auto t0 = RecentHits::Clock::now();
  CHECK_FALSE(r.expects_hit("a", t0));  // nothing known (and nothing allocated)
  r.forget("a");
  r.hit("a", t0, 1000);
  CHECK(r.expects_hit("a", t0));
  CHECK(r.expects_hit("a", t0 + 900ms));
  CHECK_FALSE(r.expects_hit("a", t0 + 1000ms));  // never past the PTTL it was told
  CHECK_FALSE(r.expects_hit("b", t0));
  r.hit("a", t0 + 500ms, -1);  // no expiry
  CHECK(r.expects_hit("a", t0 + 24h));
  r.forget("a");
  CHECK_FALSE(r.expects_hit("a", t0));
}

TEST_CASE("recent hits: a full set keeps the entry that lasts longer") {
  RecentHits r;
  const auto t0 = RecentHits::Clock::now();
  // Many keys: each set holds two, so most keys are remembered and none wrongly.
  constexpr int kKeys = 30000;
  for (int i = 0; i < kKeys; ++i) r.hit("k" + std::to_string(i), t0, 10000 + i);
  int remembered = 0;
  for (int i = 0; i < kKeys; ++i) remembered += r.expects_hit("k" + std::to_string(i), t0) ? 1 : 0;
  CHECK(remembered > kKeys * 85 / 100);
  for (int i = 0; i < 1000; ++i) CHECK_FALSE(r.expects_hit("other" + std::to_string(i), t0));
}
