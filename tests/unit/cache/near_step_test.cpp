// The near cache's step against a fake node: a hit answers without a request, a fill races an
// invalidation (not stored), a node whose tracking connection is down gets no entries, a write
// through the step drops the key, MGET assembles hits and misses.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "cache/near_step.hpp"
#include "fakes.hpp"
#include "resp/command_table.hpp"

namespace sidecache::cache::test {
namespace {

struct Rig {
  std::shared_ptr<ManualRuntime> runtime = std::make_shared<ManualRuntime>();
  FakeRedis redis{*runtime};
  std::shared_ptr<nearcache::NearCache> near;
  std::shared_ptr<NearStep> step;
  std::shared_ptr<const Snapshot> snapshot;  // the step reads no policy
  std::shared_ptr<Replies> replies = std::make_shared<Replies>();
  std::uint64_t tag = 0;

  Rig() {
    nearcache::StoreOptions options;
    options.max_memory = 4 << 20;
    options.shards = 4;
    near = std::make_shared<nearcache::NearCache>(
        options, nearcache::NearSettings{{"user:*"}, std::chrono::milliseconds(10000)});
    near->set_node_up(0, true);
    step = std::make_shared<NearStep>(near, runtime, redis);
  }
  // Runs one command through the step; its reply ("" when it was passed on).
  std::string run(std::vector<std::string> words, int protocol = 2) {
    const auto* info = resp::find_command(words[0]);
    REQUIRE(info != nullptr);
    std::vector<std::string_view> args(words.begin(), words.end());
    ChainRequest request(*info, args, snapshot);
    ReplyTarget target{replies, ++tag, 0};
    target.protocol = static_cast<std::uint8_t>(protocol);
    if (!step->handle(request, target)) return "";
    runtime->run();
    return replies->got[tag];
  }
};

}  // namespace

TEST_CASE("near step: a fill is stored, the next GET is a hit", "[near]") {
  Rig rig;
  rig.redis.data["user:1"].text = "v1";
  CHECK(rig.run({"get", "user:1"}) == "$2\r\nv1\r\n");
  CHECK(rig.redis.count("GET") == 1);
  CHECK(rig.redis.count("PTTL") == 1);
  CHECK(rig.run({"get", "user:1"}) == "$2\r\nv1\r\n");
  CHECK(rig.run({"get", "user:1"}, 3) == "$2\r\nv1\r\n");
  CHECK(rig.redis.count("GET") == 1);
  // Not matching: passed on.
  CHECK(rig.run({"get", "other"}).empty());
  // Nil is not stored.
  CHECK(rig.run({"get", "user:none"}) == "$-1\r\n");
  CHECK_FALSE(rig.run({"get", "user:none"}, 3).empty());  // the fake's nil is RESP2 only
  CHECK(rig.redis.count("GET") == 3);
}

TEST_CASE("near step: an invalidation during the read stops the fill", "[near]") {
  Rig rig;
  rig.redis.data["user:1"].text = "old";
  rig.redis.hold = true;
  const auto* info = resp::find_command("get");
  std::vector<std::string_view> args{"get", "user:1"};
  ChainRequest request(*info, args, rig.snapshot);
  REQUIRE(rig.step->handle(request, ReplyTarget{rig.replies, 100, 0}));
  rig.near->store().invalidate("user:1", nearcache::InvalidationReason::kTracking);
  rig.redis.answer_held();
  rig.runtime->run();
  CHECK(rig.replies->got[100] == "$3\r\nold\r\n");
  CHECK(rig.near->store().stats().fill_race_drops == 1);
  rig.redis.hold = false;
  rig.redis.data["user:1"].text = "new";
  CHECK(rig.run({"get", "user:1"}) == "$3\r\nnew\r\n");
  CHECK(rig.redis.count("GET") == 2);
}

TEST_CASE("near step: no entry while the node's tracking connection is down", "[near]") {
  Rig rig;
  rig.redis.data["user:1"].text = "v";
  rig.run({"get", "user:1"});
  CHECK(rig.near->store().stats().entries == 1);
  rig.near->set_node_up(0, false);
  CHECK(rig.near->store().stats().entries == 0);
  rig.run({"get", "user:1"});
  rig.run({"get", "user:1"});
  CHECK(rig.redis.count("GET") == 3);
  CHECK(rig.near->store().stats().entries == 0);
}

TEST_CASE("near step: writes and flushes drop keys", "[near]") {
  Rig rig;
  rig.redis.data["user:1"].text = "v";
  rig.redis.data["user:2"].text = "w";
  rig.run({"get", "user:1"});
  rig.run({"get", "user:2"});
  CHECK(rig.near->store().stats().entries == 2);
  CHECK(rig.run({"set", "user:1", "x"}).empty());  // passed on (no chain to hold it)
  CHECK(rig.near->store().stats().entries == 1);
  CHECK(rig.run({"eval", "return 1", "1", "user:2"}).empty());
  CHECK(rig.near->store().stats().entries == 0);
  rig.run({"get", "user:2"});
  CHECK(rig.run({"flushall"}).empty());
  CHECK(rig.near->store().stats().entries == 0);
  // A read-only command leaves it.
  rig.run({"get", "user:2"});
  CHECK(rig.run({"strlen", "user:2"}).empty());
  CHECK(rig.near->store().stats().entries == 1);
}

TEST_CASE("near step: MGET answers hits locally and reads misses", "[near]") {
  Rig rig;
  rig.redis.data["user:1"].text = "a";
  rig.redis.data["other"].text = "b";
  rig.run({"get", "user:1"});
  CHECK(rig.run({"mget", "user:1", "other", "user:none"}) == "*3\r\n$1\r\na\r\n$1\r\nb\r\n$-1\r\n");
  // RESP3 (nil as `_`) is checked against a real Redis in test_near_cache.py.
  CHECK(rig.redis.count("GET user:1") == 1);
  // One MGET per node for the misses, a PTTL for each matching miss.
  CHECK(rig.redis.count("MGET other user:none") == 1);
  CHECK(rig.redis.count("PTTL user:none") == 1);
  CHECK(rig.run({"mget", "x", "y"}).empty());  // no matching key: passed on
}

TEST_CASE("near step: keys of a read-through policy are left to read-through", "[near]") {
  Rig rig;
  auto shared = std::make_shared<Shared>(nullptr, std::make_shared<CacheStats>());
  config::CacheConfig cache;
  config::CachePolicy p;
  p.name = "users";
  p.match = "user:p:*";
  p.table = "users";
  p.key_column = "id";
  p.value_column = "name";
  cache.policies = {p};
  shared->set_policies(cache);
  rig.snapshot = shared->snapshot();
  rig.redis.data["user:p:1"].text = "v";
  rig.redis.data["user:1"].text = "w";
  CHECK(rig.run({"get", "user:p:1"}).empty());
  CHECK(rig.run({"mget", "user:1", "user:p:1"}).empty());
  CHECK(rig.run({"get", "user:1"}) == "$1\r\nw\r\n");
}

}  // namespace sidecache::cache::test
