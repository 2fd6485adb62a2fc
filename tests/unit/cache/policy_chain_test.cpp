// The policy chain: steps run in order on one request, keyed by the command's cache role, and
// every key is matched against the policies once, whichever step asks.
#include "cache/policy_chain.hpp"

#include <catch2/catch.hpp>
#include <map>

#include "cache/engine.hpp"
#include "dispatch/dispatcher.hpp"
#include "fakes.hpp"
#include "resp/writer.hpp"

using namespace sidecache;
using namespace sidecache::cache;
using namespace sidecache::cache::test;
using namespace std::chrono_literals;

namespace {

// A step that looks at every key of the request and records what it saw (the write modes
// do this for DEL); it takes the requests whose command has the role `takes`.
class LookingStep final : public ChainStep {
 public:
  LookingStep(std::shared_ptr<Runtime> runtime, NodeSender& nodes, resp::CacheRole takes)
      : ChainStep(std::move(runtime), nodes), takes_(takes) {}
  bool handle(ChainRequest& request, const ReplyTarget& target) override {
    ++calls;
    seen.clear();
    for (std::size_t i = 1; i < request.args().size(); ++i) {
      const auto& m = request.match(i);
      seen.push_back(m.policy != nullptr ? m.policy->name() + "/" + std::string(m.id) : "-");
    }
    if (request.role() != takes_) return false;
    target.deliver("+TAKEN\r\n");
    return true;
  }
  std::string refusal_in_transaction(ChainRequest& request) override {
    return request.role() == takes_ ? "ERR refused" : "";
  }
  int calls = 0;
  std::vector<std::string> seen;

 private:
  resp::CacheRole takes_;
};

config::CachePolicy policy(std::string name, std::string match) {
  config::CachePolicy p;
  p.name = std::move(name);
  p.match = std::move(match);
  p.table = "products";
  p.key_column = "id";
  p.value_column = "name";
  p.ttl = 1000ms;
  p.ttl_jitter = 0;
  p.xfetch_beta = 0;
  return p;
}

struct Fixture {
  std::shared_ptr<ManualRuntime> runtime = std::make_shared<ManualRuntime>();
  FakeRedis redis{*runtime};
  std::shared_ptr<FakeDb> db = std::make_shared<FakeDb>();
  std::shared_ptr<Shared> shared = std::make_shared<Shared>(db, std::make_shared<CacheStats>());
  std::shared_ptr<Replies> replies = std::make_shared<Replies>();
  PolicyChain chain{shared};
  std::uint64_t next_tag = 0;

  Fixture() {
    config::CacheConfig cache;
    cache.policies = {policy("products", "product:*"), policy("users", "user:*")};
    shared->set_policies(cache);
    db->rows["1"] = row({{"id", "1"}, {"name", "lamp"}});
  }
  ~Fixture() {
    shared->flights().clear();
    runtime->clear();
  }
  // Runs `args` through the chain; the reply, "<passed>" when no step took it.
  std::string run(std::vector<std::string_view> args) {
    std::string name(args[0]);
    for (auto& c : name) c = static_cast<char>(c | 0x20);
    const resp::CommandInfo* info = resp::find_command(name);
    REQUIRE(info != nullptr);
    const auto tag = next_tag++;
    if (!chain.handle(*info, args, ReplyTarget{replies, tag, 0})) return "<passed>";
    runtime->run();
    return replies->got[tag];
  }
};

}  // namespace

TEST_CASE("chain: steps run in order; the first that takes the request answers it",
          "[cache][chain]") {
  Fixture f;
  LookingStep first(f.runtime, f.redis, resp::CacheRole::kSet);
  LookingStep second(f.runtime, f.redis, resp::CacheRole::kDel);
  f.chain.add(first);
  f.chain.add(second);
  CHECK(f.run({"SET", "product:1", "x"}) == "+TAKEN\r\n");
  CHECK(first.calls == 1);
  CHECK(second.calls == 0);
  CHECK(f.run({"DEL", "product:1"}) == "+TAKEN\r\n");
  CHECK(first.calls == 2);
  CHECK(second.calls == 1);
  CHECK(f.run({"LPUSH", "product:1", "x"}) == "<passed>");
  CHECK(second.calls == 2);
  CHECK(f.chain.refusal_in_transaction(*resp::find_command("del"),
                                       std::vector<std::string_view>{"DEL", "x"}) == "ERR refused");
  CHECK(f.chain
            .refusal_in_transaction(*resp::find_command("get"),
                                    std::vector<std::string_view>{"GET", "x"})
            .empty());
}

TEST_CASE("chain: each key is matched once per request, whichever steps look at it",
          "[cache][chain]") {
  Fixture f;
  LookingStep first(f.runtime, f.redis, resp::CacheRole::kTtl);
  LookingStep second(f.runtime, f.redis, resp::CacheRole::kTtl);
  f.chain.add(first);
  f.chain.add(second);
  CHECK(f.run({"MGET", "product:1", "plain", "user:7"}) == "<passed>");
  // Both steps saw the same matches; the three keys were matched once each.
  CHECK(first.seen == std::vector<std::string>{"products/1", "-", "users/7"});
  CHECK(second.seen == first.seen);
  CHECK(f.chain.last_request().matches_made() == 3);
}

TEST_CASE("chain: the read-through engine shares the matches of the steps before it",
          "[cache][chain]") {
  Fixture f;
  LookingStep before(f.runtime, f.redis, resp::CacheRole::kTtl);
  auto engine = std::make_shared<Engine>(f.shared, f.runtime, f.redis);
  f.chain.add(before);
  f.chain.add(*engine);
  CHECK(f.run({"GET", "product:1"}) == "$4\r\nlamp\r\n");  // a miss, loaded
  CHECK(f.chain.last_request().matches_made() == 1);
  CHECK(f.run({"MGET", "plain", "product:1", "product:2"}) == "*3\r\n$-1\r\n$4\r\nlamp\r\n$-1\r\n");
  CHECK(f.chain.last_request().matches_made() == 3);
  // A read without a cache role: the engine passes it.
  CHECK(f.run({"STRLEN", "product:1"}) == "<passed>");
}

TEST_CASE("chain: only the engine, a read of no policy key matches its key and passes",
          "[cache][chain]") {
  Fixture f;
  auto engine = std::make_shared<Engine>(f.shared, f.runtime, f.redis);
  f.chain.add(*engine);
  CHECK(f.run({"GET", "plain"}) == "<passed>");
  CHECK(f.chain.last_request().matches_made() == 1);
  // Commands without a read role are not matched at all.
  CHECK(f.run({"LRANGE", "product:1", "0", "-1"}) == "<passed>");
  CHECK(f.chain.last_request().matches_made() == 0);
}

TEST_CASE("dispatcher: a request the chain takes went to the cache", "[cache][chain]") {
  Fixture f;
  auto engine = std::make_shared<Engine>(f.shared, f.runtime, f.redis);
  f.chain.add(*engine);
  dispatch::ProcessState process;
  process.config = std::make_shared<config::Config>();
  dispatch::WorkerStats stats(resp::CommandTable::id_count());
  dispatch::Dispatcher dispatcher(f.redis, process, stats);
  dispatcher.set_chain(&f.chain);
  dispatch::ClientState client;
  const auto dispatch = [&](std::vector<std::string_view> args) {
    resp::Command command;
    command.args = args;
    std::string raw;
    resp::append_command(raw, args);
    const auto done =
        dispatcher.dispatch(command, raw, client, ReplyTarget{f.replies, f.next_tag++, 0});
    f.runtime->run();
    return done;
  };
  const auto hit = dispatch({"GET", "product:1"});
  CHECK(hit.where.outcome == dispatch::Outcome::kCache);
  CHECK(dispatcher.where_name(hit.where) == "cache");  // in the slow-request log
  REQUIRE(hit.info != nullptr);
  CHECK(hit.info->cache_role == resp::CacheRole::kGet);
  const auto plain = dispatch({"GET", "plain"});
  CHECK(plain.where.outcome == dispatch::Outcome::kNode);
  CHECK(dispatcher.where_name(plain.where) == f.redis.node_name(plain.where.node));
  const auto split = dispatch({"DEL", "a", "b"});
  CHECK(split.where.outcome == dispatch::Outcome::kNodes);
  CHECK(dispatcher.where_name(split.where) == "several nodes");
  const auto local = dispatch({"PING"});
  CHECK(local.where.outcome == dispatch::Outcome::kAnswered);
  CHECK(dispatcher.where_name(local.where) == "sidecache");
  const auto unknown = dispatch({"NOSUCH"});
  CHECK(unknown.info == nullptr);
  CHECK(unknown.where.outcome == dispatch::Outcome::kAnswered);
}

TEST_CASE("chain: a write command's keys are no longer known to hit", "[cache][chain]") {
  Fixture f;
  auto& known = f.shared->recent_hits();
  const auto now = RecentHits::now();
  for (const char* k : {"product:1", "product:2", "user:1", "other"}) known.hit(k, now, 60000);
  CHECK(f.run({"GET", "product:1"}) == "<passed>");  // a read forgets nothing
  CHECK(known.expects_hit("product:1", now));
  CHECK(f.run({"DEL", "product:1", "other"}) == "<passed>");
  CHECK_FALSE(known.expects_hit("product:1", now));
  CHECK_FALSE(known.expects_hit("other", now));
  CHECK(f.run({"MSET", "user:1", "a", "x", "b"}) == "<passed>");
  CHECK_FALSE(known.expects_hit("user:1", now));
  // Queued inside MULTI too (the chain is asked whether it refuses it).
  CHECK(f.chain
            .refusal_in_transaction(*resp::find_command("expire"),
                                    std::vector<std::string_view>{"EXPIRE", "product:2", "1"})
            .empty());
  CHECK_FALSE(known.expects_hit("product:2", now));
}
