// The L1 store, single-threaded: hits return the stored bytes, expiry, the byte bound (also
// under a 1M-key scan), W-TinyLFU keeping a hot set through a scan, the fill guard,
// invalidation by key, node, predicate and flush, oversized values, and the stats' identities.
#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <string>

#include "nearcache/shard.hpp"
#include "nearcache/store.hpp"

namespace sidecache::nearcache {
namespace {

using std::chrono::seconds;
const Clock::time_point kNow = Clock::time_point{} + std::chrono::hours(1);
const Clock::time_point kLater = kNow + std::chrono::hours(1);

std::optional<std::string> get(Store& store, std::string_view key, Clock::time_point now = kNow) {
  std::string out;
  if (!store.get(key, now, [&](std::string_view v) { out.assign(v); })) return std::nullopt;
  return out;
}

StoreOptions small(std::size_t max_memory, std::size_t shards = 1) {
  StoreOptions o;
  o.max_memory = max_memory;
  o.shards = shards;
  return o;
}

// Every entry ever stored is still there or was dropped for exactly one counted reason.
void check_identities(const StoreStats& s) {
  CHECK(s.inserts ==
        s.entries + s.evictions + s.rejections + s.expirations + s.replaced + s.invalidated());
}

TEST_CASE("a stored value comes back byte for byte", "[nearcache]") {
  Store store(small(1 << 20, 4));
  const std::string reply = "$5\r\nhello\r\n";
  std::string binary("a\0b\r\n", 5);
  CHECK(store.put("k", reply, kLater, 0, kNow));
  CHECK(store.put(binary, binary, kLater, 0, kNow));
  CHECK(get(store, "k") == reply);
  CHECK(get(store, binary) == binary);
  CHECK(get(store, "absent") == std::nullopt);
  CHECK(store.put("k", "+new\r\n", kLater, 0, kNow));  // replaces
  CHECK(get(store, "k") == "+new\r\n");
  const auto s = store.stats();
  CHECK(s.hits == 3);
  CHECK(s.misses == 1);
  CHECK(s.replaced == 1);
  CHECK(s.entries == 2);
  check_identities(s);
}

TEST_CASE("a look-up of one kind misses an entry of another and leaves it", "[nearcache]") {
  Store store(small(1 << 20, 4));
  CHECK(store.put("s", "$1\r\nv\r\n", kLater, 0, kNow));
  CHECK(store.put("h", "*2\r\n$1\r\nf\r\n$1\r\nv\r\n", kLater, 0, kNow));
  const auto hit = [&](std::string_view key, char kind) {
    return store.get(
        key, kNow, [](std::string_view) {}, kind);
  };
  CHECK(hit("s", '$'));
  CHECK_FALSE(hit("s", '*'));
  CHECK(hit("h", '*'));
  CHECK_FALSE(hit("h", '$'));
  CHECK(hit("h", 0));  // any kind
  const auto s = store.stats();
  CHECK(s.hits == 3);
  CHECK(s.misses == 2);
  CHECK(s.entries == 2);  // the other kind's look-ups dropped nothing
  check_identities(s);
}

TEST_CASE("an entry is never served at or after its expiry, and is freed", "[nearcache]") {
  Store store(small(1 << 20));
  const auto expiry = kNow + seconds(10);
  store.put("k", "v", expiry, 0, kNow);
  const auto with_entry = store.stats().bytes;
  CHECK(get(store, "k", expiry - std::chrono::nanoseconds(1)) == "v");
  CHECK(get(store, "k", expiry) == std::nullopt);
  const auto s = store.stats();
  CHECK(s.expirations == 1);
  CHECK(s.entries == 0);
  CHECK(s.bytes < with_entry);
  CHECK(get(store, "k", kNow) == std::nullopt);  // gone, even for an earlier clock
  // An entry already expired when stored is dropped when the window moves it out.
  store.put("old", "v", kNow - seconds(1), 0, kNow);
  CHECK(get(store, "old") == std::nullopt);
  check_identities(store.stats());
}

TEST_CASE("an entry's charge counts its header, key, value and allocator overhead", "[nearcache]") {
  ShardOptions o;
  o.budget = 1 << 20;
  o.expected_entries = 1000;
  o.max_entry_bytes = 1 << 18;
  Shard shard(o);
  const std::string key(20, 'k'), value(300, 'v');
  shard.insert(1, key, value, kLater, 0, kNow);
  const Entry* e = shard.peek(1, key);
  REQUIRE(e != nullptr);
  CHECK(sizeof(Entry) == 56);
  CHECK(e->charge >= sizeof(Entry) + key.size() + value.size() + kAllocHeader);
  CHECK(e->charge <= sizeof(Entry) + key.size() + value.size() + kAllocHeader + 64);
  CHECK(shard.used() == e->charge + Shard::kInitialBuckets * sizeof(Entry*));
}

TEST_CASE("the byte bound holds under a 1M distinct-key scan", "[nearcache]") {
  for (std::size_t shards : {1, 8}) {
    CAPTURE(shards);
    Store store(small(256 << 10, shards));
    std::string key, value;
    for (std::size_t i = 0; i < 1'000'000; ++i) {
      key = "scan:" + std::to_string(i);
      value.assign(8 + i % 200, 'x');  // sizes vary: 8 to 207 bytes
      store.put(key, value, kLater, 0, kNow);
      if (i % 997 == 0) {
        const auto s = store.stats();
        REQUIRE(s.bytes + s.fixed_bytes <= store.max_memory());
      }
    }
    const auto s = store.stats();
    CHECK(s.bytes + s.fixed_bytes <= store.max_memory());
    CHECK(s.bytes + s.fixed_bytes > store.max_memory() * 9 / 10);  // and it is used
    CHECK(s.entries > 1000);
    check_identities(s);
    store.clear();
    CHECK(store.stats().entries == 0);
  }
}

TEST_CASE("the budget holds entry by entry in one shard", "[nearcache]") {
  ShardOptions o;
  o.budget = 64 << 10;
  o.expected_entries = 512;
  o.max_entry_bytes = 6 << 10;
  Shard shard(o);
  std::uint64_t seed = 1;
  for (std::uint64_t i = 0; i < 200'000; ++i) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    const std::string key = "k" + std::to_string(seed % 5000);
    const auto hash = mix64(seed % 5000);
    if (shard.lookup(hash, key, kNow) == nullptr) {
      shard.insert(hash, key, std::string((seed >> 40) % 3000, 'v'), kLater, 0, kNow);
    }
    REQUIRE(shard.used() <= shard.budget());
    REQUIRE(shard.used() == shard.entry_bytes() + shard.table_bytes());
  }
}

double hot_hit_ratio(Store& store, int rounds, int hot) {
  int hits = 0;
  for (int r = 0; r < rounds; ++r) {
    for (int k = 0; k < hot; ++k) {
      const std::string key = "hot:" + std::to_string(k);
      if (store.get(key, kNow, [](std::string_view) {})) {
        ++hits;
      } else {
        store.put(key, std::string(32, 'h'), kLater, 0, kNow);
      }
    }
  }
  return double(hits) / (rounds * hot);
}

void scan(Store& store, int from, int count) {  // each key read once, missed, filled
  for (int i = from; i < from + count; ++i) {
    const std::string key = "scan:" + std::to_string(i);
    if (!store.get(key, kNow, [](std::string_view) {})) {
      store.put(key, std::string(32, 's'), kLater, 0, kNow);
    }
  }
}

TEST_CASE("W-TinyLFU keeps the hot set through a scan of one-off keys", "[nearcache]") {
  Store store(small(512 << 10, 4));
  const int hot = 1000;          // about a quarter of the budget
  hot_hit_ratio(store, 5, hot);  // warm up
  const double before = hot_hit_ratio(store, 5, hot);
  CHECK(before > 0.99);
  SECTION("a scan of 1M keys with no hot reads meanwhile") {
    scan(store, 0, 1'000'000);
    const double after = hot_hit_ratio(store, 1, hot);  // the first round after the scan
    INFO("hot-set hit ratio before the scan " << before << ", right after it " << after);
    // The hot keys in protected all stay. Lost: the few still in the window when the scan
    // began (the window is 1 % of the budget, 4 % of this hot set), whose frequency ages to
    // zero over the scan (no reads for 1M samples), so later scan keys replace them.
    CHECK(after > 0.93);
  }
  SECTION("a scan of 1M keys interleaved with hot reads") {
    double during = 0;
    for (int part = 0; part < 100; ++part) {
      scan(store, part * 10'000, 10'000);
      during += hot_hit_ratio(store, 1, hot) / 100;
    }
    const double after = hot_hit_ratio(store, 1, hot);
    INFO("hot-set hit ratio before " << before << ", during " << during << ", after " << after);
    CHECK(during > 0.99);
    CHECK(after > 0.99);
  }
  const auto s = store.stats();
  CHECK(s.rejections > 500'000);  // most scan keys lost to main's victim at admission
  check_identities(s);
}

TEST_CASE("a fill is dropped when its key was invalidated meanwhile", "[nearcache]") {
  Store store(small(1 << 20, 4));
  SECTION("no invalidation: stored") {
    const auto token = store.begin_fill("k");
    CHECK(store.finish_fill(token, "k", "v1", kLater, 0, kNow));
    CHECK(get(store, "k") == "v1");
  }
  SECTION("the key invalidated between the read and its reply: not stored") {
    const auto token = store.begin_fill("k");
    CHECK_FALSE(store.invalidate("k", InvalidationReason::kTracking));  // not cached yet
    CHECK_FALSE(store.finish_fill(token, "k", "old", kLater, 0, kNow));
    CHECK(get(store, "k") == std::nullopt);
    CHECK(store.stats().fill_race_drops == 1);
    // A fill begun after the invalidation goes in.
    const auto again = store.begin_fill("k");
    CHECK(store.finish_fill(again, "k", "new", kLater, 0, kNow));
    CHECK(get(store, "k") == "new");
  }
  SECTION("a write drops the cached value and the fill in flight") {
    store.put("k", "v0", kLater, 0, kNow);
    const auto token = store.begin_fill("k");
    CHECK(store.invalidate("k", InvalidationReason::kWrite));
    CHECK_FALSE(store.finish_fill(token, "k", "v0", kLater, 0, kNow));
    CHECK(get(store, "k") == std::nullopt);
  }
  SECTION("a flush or a lost node fails every fill in flight") {
    const auto a = store.begin_fill("a");
    const auto b = store.begin_fill("b");
    store.clear();
    CHECK_FALSE(store.finish_fill(a, "a", "v", kLater, 0, kNow));
    const auto c = store.begin_fill("c");
    store.invalidate_node(3);
    CHECK_FALSE(store.finish_fill(b, "b", "v", kLater, 0, kNow));
    CHECK_FALSE(store.finish_fill(c, "c", "v", kLater, 0, kNow));
    CHECK(store.stats().fill_race_drops == 3);
  }
  SECTION("another key's invalidation does not drop the fill (distinct slots)") {
    StoreOptions o = small(1 << 20, 1);
    o.fill_slots = 1 << 16;
    Store wide(o);
    const auto token = wide.begin_fill("k");
    wide.invalidate("other", InvalidationReason::kWrite);
    CHECK(wide.finish_fill(token, "k", "v", kLater, 0, kNow));
  }
  SECTION("a token used for another key stores nothing") {
    const auto token = store.begin_fill("k");
    CHECK_FALSE(store.finish_fill(token, "not-k", "v", kLater, 0, kNow));
  }
}

TEST_CASE("invalidation by node, by predicate and by flush", "[nearcache]") {
  Store store(small(4 << 20, 8));
  for (int i = 0; i < 300; ++i) {
    const auto node = static_cast<std::uint16_t>(i % 3);
    store.put("user:" + std::to_string(i), "v", kLater, node, kNow);
  }
  CHECK(store.stats().entries == 300);
  CHECK(store.invalidate_node(1) == 100);
  CHECK(get(store, "user:1") == std::nullopt);
  CHECK(get(store, "user:0") == "v");
  CHECK(get(store, "user:2") == "v");
  auto s = store.stats();
  CHECK(s.entries == 200);
  CHECK(s.invalidations[static_cast<int>(InvalidationReason::kNodeLost)] == 100);

  const auto dropped =
      store.invalidate_if([](std::string_view key, std::uint16_t) { return key.ends_with("0"); },
                          InvalidationReason::kFlush);
  CHECK(dropped == 20);  // user:0, 20, 30, 50, ...: the 30 multiples of 10 less node 1's 10
  CHECK(get(store, "user:30") == std::nullopt);
  CHECK(store.invalidate("user:2", InvalidationReason::kWrite));
  CHECK_FALSE(store.invalidate("user:2", InvalidationReason::kWrite));

  store.clear();
  s = store.stats();
  CHECK(s.entries == 0);
  CHECK(s.bytes == store.shard_count() * Shard::kInitialBuckets * sizeof(Entry*));
  CHECK(get(store, "user:0") == std::nullopt);
  CHECK(s.invalidations[static_cast<int>(InvalidationReason::kWrite)] == 1);
  CHECK(s.invalidations[static_cast<int>(InvalidationReason::kFlush)] == 20 + 179);
  check_identities(s);
}

TEST_CASE("oversized entries are not stored", "[nearcache]") {
  Store store(small(1 << 20, 4));
  const std::size_t limit = store.max_entry_bytes();
  CHECK(limit > 20'000);
  CHECK_FALSE(store.put("big", std::string(limit, 'x'), kLater, 0, kNow));
  CHECK(get(store, "big") == std::nullopt);
  CHECK(store.put("fits", std::string(limit - 200, 'x'), kLater, 0, kNow));
  const auto s = store.stats();
  CHECK(s.oversized == 1);
  CHECK(s.entries == 1);
  // An oversized value replacing a cached one leaves the key uncached (never the old value).
  store.put("k", "small", kLater, 0, kNow);
  CHECK_FALSE(store.put("k", std::string(limit, 'x'), kLater, 0, kNow));
  CHECK(get(store, "k") == std::nullopt);
}

TEST_CASE("options that cannot work are refused", "[nearcache]") {
  CHECK_THROWS_AS(Store(small(1 << 20, 3)), std::invalid_argument);
  CHECK_THROWS_AS(Store(small(16 << 10, 16)), std::invalid_argument);
  StoreOptions o = small(1 << 20);
  o.window_fraction = 0.9;
  CHECK_THROWS_AS(Store(o), std::invalid_argument);
}

}  // namespace
}  // namespace sidecache::nearcache
