// What the request path and the tracking connections share: BCAST prefixes from globs, pattern
// matching, and the node state's effect on entries and fills.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>

#include "nearcache/near_cache.hpp"

namespace sidecache::nearcache {

TEST_CASE("near cache: literal prefixes and BCAST prefixes", "[near]") {
  CHECK(literal_prefix("user:*") == "user:");
  CHECK(literal_prefix("user:?x") == "user:");
  CHECK(literal_prefix("a[bc]*") == "a");
  CHECK(literal_prefix("a\\*b") == "a");
  CHECK(literal_prefix("exact") == "exact");
  CHECK(literal_prefix("*") == "");
  using V = std::vector<std::string>;
  CHECK(tracking_prefixes({"user:*", "cfg:*"}) == V{"cfg:", "user:"});
  // Overlapping prefixes are refused by Redis: the shorter covers the longer.
  CHECK(tracking_prefixes({"user:*", "user:1*", "us*"}) == V{"us"});
  CHECK(tracking_prefixes({"user:*", "user:*"}) == V{"user:"});
  CHECK(tracking_prefixes({"user:*", "*:x"}) == V{""});
}

TEST_CASE("near cache: compiled patterns answer as the glob matcher", "[near]") {
  const std::vector<std::string> patterns = {
      "user:*", "cfg", "a**", "x?y*", "p[ab]*", "esc\\*", "*:tail", "", "lit*eral", "k\\", "*"};
  const std::vector<std::string> keys = {
      "",    "user:", "user:1", "use",  "cfg",    "cfg1",     "a",       "ab",  "xzy", "xzyq",
      "pa1", "pc1",   "esc*",   "escx", "1:tail", "lit-eral", "literal", "k\\", "k"};
  for (const auto& p : patterns) {
    const NearSettings settings{{p}, std::chrono::milliseconds(1000)};
    const KeyPatterns compiled({p});
    for (const auto& k : keys) {
      INFO(p << " vs " << k);
      CHECK(compiled.matches(k) == settings.matches(k));
    }
  }
  const KeyPatterns several({"cfg", "user:*", "x?y*"});
  CHECK(several.matches("cfg"));
  CHECK(several.matches("user:7"));
  CHECK(several.matches("xay"));
  CHECK_FALSE(several.matches("cfg:1"));
  CHECK_FALSE(KeyPatterns().matches("anything"));
}

TEST_CASE("near cache: settings match and reload clears", "[near]") {
  StoreOptions options;
  options.max_memory = 1 << 20;
  options.shards = 1;
  NearCache near(options, NearSettings{{"user:*", "cfg"}, std::chrono::milliseconds(1000)});
  CHECK(near.settings()->matches("user:1"));
  CHECK(near.settings()->matches("cfg"));
  CHECK_FALSE(near.settings()->matches("cfg:1"));
  const auto now = Clock::now();
  near.set_node_up(0, true);
  CHECK(near.store().put("user:1", "$1\r\nv\r\n", now + std::chrono::seconds(1), 0, now));
  const auto g = near.generation();
  near.set_settings(NearSettings{{"cfg:*"}, std::chrono::milliseconds(500)});
  CHECK(near.generation() != g);
  CHECK(near.store().stats().entries == 0);
  CHECK(near.settings()->matches("cfg:1"));
}

TEST_CASE("near cache: a node going down drops its entries and fails fills in flight", "[near]") {
  StoreOptions options;
  options.max_memory = 1 << 20;
  options.shards = 1;
  NearCache near(options, NearSettings{{"*"}, std::chrono::milliseconds(1000)});
  const auto now = Clock::now();
  const auto later = now + std::chrono::seconds(1);
  near.set_node_up(0, true);
  near.set_node_up(1, true);
  CHECK(near.nodes_up() == 2);
  near.store().put("a", "$1\r\nv\r\n", later, 0, now);
  near.store().put("b", "$1\r\nv\r\n", later, 1, now);
  const auto token = near.store().begin_fill("c");
  near.set_node_up(0, false);
  CHECK_FALSE(near.node_up(0));
  CHECK(near.store().stats().entries == 1);
  CHECK_FALSE(near.store().finish_fill(token, "c", "$1\r\nv\r\n", later, 1, now));
  near.set_all_down(InvalidationReason::kFlush);
  CHECK(near.nodes_up() == 0);
  CHECK(near.store().stats().entries == 0);
}

}  // namespace sidecache::nearcache

namespace sidecache::nearcache {

TEST_CASE("near cache: lag histogram buckets, quantile bound, book by node", "[near]") {
  using std::chrono::microseconds;
  LagHistogram h;
  CHECK(h.count() == 0);
  CHECK(h.quantile_bound(0.99) == 0);
  for (int i = 0; i < 98; ++i) h.observe(microseconds(60));  // (50, 75] µs
  h.observe(microseconds(400));                              // (300, 500] µs
  h.observe(std::chrono::seconds(3));                        // above 1 s
  CHECK(h.count() == 100);
  CHECK(h.bucket(2) == 98);
  CHECK(h.bucket(7) == 1);
  CHECK(h.bucket(LagHistogram::kBounds.size()) == 1);
  CHECK(h.quantile_bound(0.5) == LagHistogram::kBounds[2]);
  CHECK(h.quantile_bound(0.99) == LagHistogram::kBounds[7]);
  CHECK(std::isinf(h.quantile_bound(1.0)));
  CHECK(h.sum_seconds() == Approx(98 * 60e-6 + 400e-6 + 3.0));
  h.observe(std::chrono::nanoseconds(-5));  // clock oddity: the first bucket
  CHECK(h.bucket(0) == 1);
  h.lost();
  CHECK(h.lost_count() == 1);

  LagBook book;
  LagHistogram& a = book.node("a");
  CHECK(&book.node("a") == &a);
  book.node("b").observe(microseconds(10));
  int seen = 0;
  book.for_each([&](const std::string& name, const LagHistogram& x) {
    ++seen;
    CHECK(x.count() == (name == "b" ? 1u : 0u));
  });
  CHECK(seen == 2);
}

TEST_CASE("near cache: the lag marker's prefix is merged with the patterns'", "[near]") {
  using V = std::vector<std::string>;
  CHECK(tracking_prefixes({"user:*", "__sidecache:l1lag:00ab:"}) ==
        V{"user:", "__sidecache:l1lag:00ab:"});
  CHECK(tracking_prefixes({"*", "__sidecache:l1lag:00ab:"}) == V{""});
  CHECK(tracking_prefixes({"__sidecache:*", "__sidecache:l1lag:00ab:"}) == V{"__sidecache:"});
}

}  // namespace sidecache::nearcache
