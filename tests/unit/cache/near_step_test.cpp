// The near cache's step against a fake node: a hit answers without a request, a fill races an
// invalidation (not stored), a node whose tracking connection is down gets no entries, a write
// through the step drops the key, MGET assembles hits and misses.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "cache/engine.hpp"
#include "cache/near_step.hpp"
#include "cache/value.hpp"
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

TEST_CASE("near step: a read a cluster pool redirected is not stored", "[near][cluster]") {
  Rig rig;
  rig.redis.data["user:1"].text = "v";
  rig.redis.data["user:h"].fields = {{"f", "x"}};
  rig.redis.redirect = true;
  CHECK(rig.run({"get", "user:1"}) == "$1\r\nv\r\n");
  CHECK(rig.run({"hget", "user:h", "f"}) == "$1\r\nx\r\n");
  CHECK(rig.run({"mget", "user:1"}) == "*1\r\n$1\r\nv\r\n");
  CHECK(rig.near->store().stats().entries == 0);
  CHECK(rig.redis.count("PTTL") == 3);
  // Answered by the node it was sent to: stored.
  rig.redis.redirect = false;
  CHECK(rig.run({"get", "user:1"}) == "$1\r\nv\r\n");
  CHECK(rig.near->store().stats().entries == 1);
  CHECK(rig.run({"get", "user:1"}) == "$1\r\nv\r\n");
  CHECK(rig.redis.count("GET") == 2);
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
  // commands.allow_flush off: sidecache refuses FLUSHALL, so the L1 stays.
  nearcache::NearSettings refused{{"user:*"}, std::chrono::milliseconds(10000)};
  refused.flush_allowed = false;
  rig.near->set_settings(refused);  // (a reload: empties the L1)
  rig.run({"get", "user:2"});
  CHECK(rig.run({"flushall"}).empty());
  CHECK(rig.run({"flushdb"}).empty());
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

TEST_CASE("near step: hash reads are answered from the whole hash", "[near]") {
  Rig rig;
  rig.redis.data["user:h"].fields = {{"a", "1"}, {"b", "22"}};
  // A miss: the client's command, then HGETALL + PTTL to fill.
  CHECK(rig.run({"hget", "user:h", "a"}) == "$1\r\n1\r\n");
  CHECK(rig.redis.count("hget user:h a") == 1);  // the client's words
  CHECK(rig.redis.count("HGETALL user:h") == 1);
  CHECK(rig.redis.count("PTTL user:h") == 1);
  const std::size_t sent = rig.redis.log.size();
  // Hits, in both RESP versions, send nothing.
  CHECK(rig.run({"hget", "user:h", "b"}) == "$2\r\n22\r\n");
  CHECK(rig.run({"hget", "user:h", "zz"}) == "$-1\r\n");
  CHECK(rig.run({"hget", "user:h", "zz"}, 3) == "_\r\n");
  CHECK(rig.run({"hmget", "user:h", "b", "zz", "a"}) == "*3\r\n$2\r\n22\r\n$-1\r\n$1\r\n1\r\n");
  CHECK(rig.run({"hmget", "user:h", "zz", "a"}, 3) == "*2\r\n_\r\n$1\r\n1\r\n");
  CHECK(rig.run({"hgetall", "user:h"}) == "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$2\r\n22\r\n");
  CHECK(rig.run({"hexists", "user:h", "b"}) == ":1\r\n");
  CHECK(rig.run({"hexists", "user:h", "zz"}, 3) == ":0\r\n");
  CHECK(rig.run({"hlen", "user:h"}) == ":2\r\n");
  CHECK(rig.run({"hgetall", "user:h"}, 3) == "%2\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$2\r\n22\r\n");
  CHECK(rig.redis.log.size() == sent);
  // A wrong arity goes to Redis.
  CHECK(rig.run({"hgetall", "user:h", "x"}).empty());
  // A write drops the hash; the next read fills again.
  CHECK(rig.run({"hset", "user:h", "c", "3"}).empty());  // passed on (no chain to hold it)
  CHECK(rig.near->store().stats().entries == 0);
  rig.redis.data["user:h"].fields.emplace_back("c", "3");
  CHECK(rig.run({"hgetall", "user:h"}) ==
        "*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$2\r\n22\r\n$1\r\nc\r\n$1\r\n3\r\n");
  CHECK(rig.redis.count("hgetall user:h") == 1);  // HGETALL was the command: no second one
  CHECK(rig.near->store().stats().entries == 1);
}

TEST_CASE("near step: an entry answers only reads of its type", "[near]") {
  Rig rig;
  rig.redis.data["user:h"].fields = {{"a", "1"}};
  rig.redis.data["user:s"].text = "v";
  rig.run({"hgetall", "user:h"});
  rig.run({"get", "user:s"});
  CHECK(rig.near->store().stats().entries == 2);
  // GET of the cached hash and HGET of the cached string go to Redis: its WRONGTYPE.
  const std::string wrongtype =
      "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
  CHECK(rig.run({"get", "user:h"}) == wrongtype);
  CHECK(rig.run({"mget", "user:h"}) == "*1\r\n$-1\r\n");  // MGET: nil for another type
  CHECK(rig.run({"hget", "user:s", "a"}) == wrongtype);
  CHECK(rig.run({"hgetall", "user:s"}) == wrongtype);
  CHECK(rig.near->store().stats().entries == 2);
  CHECK(rig.run({"get", "user:s"}) == "$1\r\nv\r\n");
  CHECK(rig.run({"hget", "user:h", "a"}) == "$1\r\n1\r\n");
  // Missing hashes and keys are not stored.
  CHECK(rig.run({"hgetall", "user:none"}) == "*0\r\n");
  CHECK(rig.run({"hget", "user:none", "a"}) == "$-1\r\n");
  CHECK(rig.near->store().stats().entries == 2);
}

TEST_CASE("near step: an invalidation during a hash read stops the fill", "[near]") {
  Rig rig;
  rig.redis.data["user:h"].fields = {{"a", "old"}};
  rig.redis.hold = true;
  const auto* info = resp::find_command("hget");
  std::vector<std::string_view> args{"hget", "user:h", "a"};
  ChainRequest request(*info, args, rig.snapshot);
  REQUIRE(rig.step->handle(request, ReplyTarget{rig.replies, 100, 0}));
  rig.near->store().invalidate("user:h", nearcache::InvalidationReason::kTracking);
  rig.redis.answer_held();
  rig.runtime->run();
  CHECK(rig.replies->got[100] == "$3\r\nold\r\n");
  CHECK(rig.near->store().stats().entries == 0);
  CHECK(rig.near->store().stats().fill_race_drops == 1);
}

TEST_CASE("near step: a hash fill lives no longer than its Redis TTL", "[near]") {
  Rig rig;
  rig.redis.data["user:h"].fields = {{"a", "1"}};
  rig.redis.data["user:h"].expires = rig.runtime->now() + std::chrono::milliseconds(500);
  rig.run({"hgetall", "user:h"});
  bool hit = rig.near->store().get(
      "user:h", nearcache::Clock::now() + std::chrono::milliseconds(400), [](std::string_view) {});
  CHECK(hit);
  hit = rig.near->store().get("user:h", nearcache::Clock::now() + std::chrono::milliseconds(600),
                              [](std::string_view) {});
  CHECK_FALSE(hit);
}

TEST_CASE("near step: an l1 policy's miss is read through and its answer kept", "[near]") {
  Rig rig;
  auto db = std::make_shared<FakeDb>();
  auto shared = std::make_shared<Shared>(db, std::make_shared<CacheStats>());
  config::CacheConfig cache;
  config::CachePolicy p;
  p.name = "products";
  p.match = "product:*";
  p.table = "products";
  p.key_column = "id";
  p.value_column = "name";
  p.ttl = std::chrono::milliseconds(500);
  p.ttl_jitter = 0;
  p.xfetch_beta = 0;
  // Redis keeps the value ttl + grace (50.5 s); read-through calls it expired after 0.5 s.
  p.stale_while_revalidate = std::chrono::milliseconds(50000);
  p.l1 = true;
  config::CachePolicy q = p;
  q.name = "plain";
  q.match = "pp:*";
  q.l1 = false;
  cache.policies = {p, q};
  shared->set_policies(cache);
  db->rows["1"] = row({{"id", "1"}, {"name", "lamp"}});
  // The step's patterns: what the wiring makes of `l1: true` (the policy's match added).
  rig.near->set_settings(
      nearcache::NearSettings{{"user:*", "product:*", "pp:*"}, std::chrono::milliseconds(10000)});
  rig.near->set_node_up(0, true);
  auto engine = std::make_shared<Engine>(shared, rig.runtime, rig.redis);
  PolicyChain chain{shared};
  chain.add(*rig.step);
  chain.add(*engine);
  chain.set_router([&rig](const resp::CommandInfo&, std::span<const std::string_view> args,
                          const ReplyTarget& target) {
    std::string request;
    resp::append_command(request, args);
    rig.redis.send(0, request, target);
  });
  auto run = [&](std::vector<std::string_view> args) {
    const auto* info = resp::find_command(args[0]);
    const auto tag = ++rig.tag;
    if (!chain.handle(*info, args, ReplyTarget{rig.replies, tag, 0})) return std::string("-");
    rig.runtime->run();
    return rig.replies->got[tag];
  };
  CHECK(run({"get", "product:1"}) == "$4\r\nlamp\r\n");  // loaded
  CHECK(db->fetches == 1);
  CHECK(rig.near->store().stats().entries == 1);
  const std::size_t sent = rig.redis.log.size();
  CHECK(run({"get", "product:1"}) == "$4\r\nlamp\r\n");
  CHECK(rig.redis.log.size() == sent);  // from the L1
  // Lifetime: PTTL (50.5 s) - grace (50 s), not max_ttl (10 s).
  const auto later = nearcache::Clock::now() + std::chrono::milliseconds(700);
  CHECK_FALSE(rig.near->store().get("product:1", later, [](std::string_view) {}));
  // A missing row (negative-cached) is never stored.
  CHECK(run({"get", "product:9"}) == "$-1\r\n");
  CHECK(run({"get", "product:9"}) == "$-1\r\n");
  CHECK(rig.near->store().stats().entries == 0);  // (product:1 expired above)
  // A policy without l1 is left to read-through, though its keys match the patterns.
  db->rows["2"] = row({{"id", "2"}, {"name", "desk"}});
  CHECK(run({"get", "pp:2"}) == "$4\r\ndesk\r\n");
  CHECK(run({"get", "pp:2"}) == "$4\r\ndesk\r\n");
  CHECK(rig.near->store().stats().entries == 0);
  // A Redis hit through read-through fills too; a write drops the l1 key.
  CHECK(run({"get", "product:1"}) == "$4\r\nlamp\r\n");
  CHECK(db->fetches == 3);  // product:1, product:9, pp:2: this one was a Redis hit
  CHECK(rig.near->store().stats().entries == 1);
  run({"del", "product:1"});
  CHECK(rig.near->store().stats().entries == 0);
  shared->flights().clear();
  rig.runtime->clear();
}

}  // namespace sidecache::cache::test
