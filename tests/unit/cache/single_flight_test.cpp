#include "cache/single_flight.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

using namespace sidecache::cache;

TEST_CASE("single flight: one leader, every waiter gets the result, then a new flight") {
  SingleFlight sf;
  std::vector<std::string> got;
  const auto cb = [&](const LoadResultPtr& r) { got.push_back(r->value.text); };
  CHECK(sf.join("k", cb));
  CHECK_FALSE(sf.join("k", cb));
  CHECK_FALSE(sf.join("k", {}));  // a background refresh adds no callback
  CHECK(sf.join("other", cb));
  CHECK(sf.in_flight("k"));
  auto r = std::make_shared<LoadResult>();
  r->kind = LoadResult::Kind::kValue;
  r->value.text = "v";
  sf.finish("k", r);
  CHECK(got == std::vector<std::string>{"v", "v"});
  CHECK_FALSE(sf.in_flight("k"));
  CHECK(sf.size() == 1);
  CHECK(sf.join("k", cb));  // a new flight
  sf.finish("missing", r);  // harmless
}

TEST_CASE("single flight under contention: exactly one leader per flight") {
  SingleFlight sf;
  std::atomic<int> leaders{0}, called{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (sf.join("hot", [&](const LoadResultPtr&) { called.fetch_add(1); }))
          leaders.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(leaders.load() == 1);
  sf.finish("hot", std::make_shared<LoadResult>());
  CHECK(called.load() == 8000);
}
