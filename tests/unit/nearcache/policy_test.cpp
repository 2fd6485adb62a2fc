// W-TinyLFU's steps in one shard: a window candidate that does not beat main's victim is
// rejected, one that does is admitted and the victim evicted; a hit in probation promotes to
// protected, and protected stays within its share.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "nearcache/key_hash.hpp"
#include "nearcache/shard.hpp"

namespace sidecache::nearcache {
namespace {

const Clock::time_point kNow = Clock::time_point{} + std::chrono::hours(1);
const Clock::time_point kLater = kNow + std::chrono::hours(1);

struct Fixture {
  Shard shard{[] {
    ShardOptions o;
    o.budget = 16 << 10;  // the window (1 %) holds one 96-byte entry
    o.expected_entries = 128;
    o.max_entry_bytes = 4 << 10;
    return o;
  }()};

  // A read (a miss or a hit), then a fill if it missed: what the request path will do.
  bool read(const std::string& key) {
    const auto h = key_hash(key);
    if (shard.lookup(h, key, kNow) != nullptr) return true;
    shard.insert(h, key, std::string(16, 'v'), kLater, 0, kNow);
    return false;
  }
  const Entry* peek(const std::string& key) { return shard.peek(key_hash(key), key); }
};

TEST_CASE("admission: a candidate enters main only if it is more frequent than the victim",
          "[nearcache]") {
  Fixture f;
  int i = 0;
  // One-off keys until main is full and the first candidate is turned away (a tie: 1 vs 1).
  while (f.shard.stats().rejections.get() == 0) f.read("cold:" + std::to_string(i++));
  CHECK(f.shard.stats().evictions.get() == 0);
  const auto admissions = f.shard.stats().admissions.get();

  // A key read 5 times before it is filled (misses while its value loads), then pushed out of
  // the window by the next key.
  for (int n = 0; n < 4; ++n) f.shard.lookup(key_hash("hot"), "hot", kNow);
  f.read("hot");
  f.read("cold:" + std::to_string(i++));
  REQUIRE(f.peek("hot") != nullptr);
  CHECK(f.peek("hot")->queue == Queue::kProbation);
  CHECK(f.shard.stats().admissions.get() == admissions + 1);
  CHECK(f.shard.stats().evictions.get() == 1);  // the victim it beat

  // A one-off key pushed out of the window the same way is rejected.
  const auto rejections = f.shard.stats().rejections.get();
  const std::string once = "cold:" + std::to_string(i++);
  f.read(once);
  f.read("cold:" + std::to_string(i++));
  CHECK(f.peek(once) == nullptr);
  CHECK(f.shard.stats().rejections.get() == rejections + 2);  // and the key before it

  // A hit in probation promotes to protected.
  CHECK(f.read("hot"));
  CHECK(f.peek("hot")->queue == Queue::kProtected);
  CHECK(f.shard.used() <= f.shard.budget());
}

TEST_CASE("protected stays within 80 % of main; its overflow goes back to probation",
          "[nearcache]") {
  Fixture f;
  // 200 keys read twice in a row: each is filled, then hit in the window; pushed out by the
  // next key, it is admitted while main has room; a third read promotes it.
  for (int round = 0; round < 3; ++round) {
    for (int k = 0; k < 200; ++k) f.read("k:" + std::to_string(k));
  }
  const std::size_t main = f.shard.probation_bytes() + f.shard.protected_bytes();
  CHECK(f.shard.protected_bytes() > 0);
  CHECK(f.shard.probation_bytes() > 0);
  CHECK(f.shard.protected_bytes() <= (f.shard.budget() - f.shard.table_bytes()) * 8 / 10);
  CHECK(main + f.shard.window_bytes() + f.shard.table_bytes() <= f.shard.budget());
}

}  // namespace
}  // namespace sidecache::nearcache
