#include "cache/xfetch.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

using namespace sidecache::cache;

namespace {

// The share of readers that refresh with `remaining` ms left, by simulation.
double refresh_rate(double remaining, double delta, double beta, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  constexpr int kN = 200000;
  int n = 0;
  for (int i = 0; i < kN; ++i) n += xfetch_should_refresh(remaining, delta, beta, 1.0 - dist(rng));
  return static_cast<double>(n) / kN;
}

}  // namespace

TEST_CASE("XFetch refreshes with probability exp(-remaining / (delta * beta))") {
  std::mt19937_64 rng(7);
  const double delta = 100;  // ms to reload
  for (double remaining : {10.0, 50.0, 100.0, 200.0, 400.0}) {
    const double expected = std::exp(-remaining / delta);
    CHECK(refresh_rate(remaining, delta, 1.0, rng) == Approx(expected).margin(0.005));
  }
  // beta > 1 favours earlier refreshes.
  CHECK(refresh_rate(200, delta, 2.0, rng) == Approx(std::exp(-1.0)).margin(0.005));
}

TEST_CASE("XFetch: the probability grows toward expiry, and is not linear in age") {
  std::mt19937_64 rng(11);
  const double ttl = 10000, delta = 100;
  double previous = -1;
  for (double age = 0; age <= ttl; age += 500) {
    const double p = refresh_rate(ttl - age, delta, 1.0, rng);
    CHECK(p >= previous - 0.003);  // monotone (up to sampling noise)
    previous = p;
  }
  // A linear age/ttl rule would refresh half the readers at half the TTL; XFetch none, because
  // 50 reload times remain. Near expiry it refreshes most.
  CHECK(refresh_rate(ttl / 2, delta, 1.0, rng) == 0.0);
  CHECK(refresh_rate(10, delta, 1.0, rng) > 0.85);
  CHECK(xfetch_should_refresh(0, delta, 1.0, 0.5));  // expired: always
  CHECK(xfetch_should_refresh(-5, delta, 0.0, 0.5));
  CHECK_FALSE(xfetch_should_refresh(1, delta, 0.0, 1e-9));  // beta 0: off
  CHECK_FALSE(xfetch_should_refresh(1, 0.0, 1.0, 1e-9));    // nothing measured yet
  CHECK(xfetch_should_refresh(5000, delta, 1.0, 0.0));      // u = 0: the largest finite draw
}

TEST_CASE("load-time average") {
  Ewma e;
  CHECK(e.get() == 0);
  e.observe(100);
  CHECK(e.get() == 100);
  e.observe(200);
  CHECK(e.get() == Approx(120));
}

TEST_CASE("load-time average: concurrent observations stay within the values observed") {
  Ewma e;
  std::atomic<int> outside{0};  // Catch2 assertions are not thread-safe: count, check after
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&e, &outside, t] {
      for (int i = 0; i < 2000; ++i) {
        e.observe(t % 2 == 0 ? 10.0 : 20.0);
        const double v = e.get();
        if (v < 10.0 || v > 20.0) outside.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(outside.load() == 0);
  CHECK(e.get() >= 10.0);
  CHECK(e.get() <= 20.0);
}
