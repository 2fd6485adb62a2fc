// The dispatcher with a read-through engine: policy reads go to the engine, everything else is
// routed as before.
#include <catch2/catch.hpp>
#include <map>

#include "cache/engine.hpp"
#include "dispatch/dispatcher.hpp"
#include "fakes.hpp"

using namespace sidecache;
using namespace sidecache::cache;
using namespace sidecache::cache::test;
using namespace std::chrono_literals;

TEST_CASE("dispatcher: read-through commands on policy keys are the engine's, others are not") {
  auto runtime = std::make_shared<ManualRuntime>();
  FakeRedis redis(*runtime);
  auto db = std::make_shared<FakeDb>();
  db->rows["1"] = row({{"id", "1"}, {"name", "lamp"}});
  auto shared = std::make_shared<Shared>(db, std::make_shared<CacheStats>());
  config::CacheConfig cache;
  config::CachePolicy p;
  p.name = "products";
  p.match = "product:*";
  p.table = "products";
  p.key_column = "id";
  p.value_column = "name";
  p.ttl = 1000ms;
  cache.policies.push_back(p);
  shared->set_policies(cache);
  auto engine = std::make_shared<Engine>(shared, runtime, redis);

  dispatch::ProcessState process;
  process.config = std::make_shared<config::Config>();
  dispatch::WorkerStats stats(resp::CommandTable::id_count());
  dispatch::Dispatcher dispatcher(redis, process, stats);
  PolicyChain chain(shared);
  chain.add(*engine);
  dispatcher.set_chain(&chain);
  dispatch::ClientState client;
  auto replies = std::make_shared<Replies>();
  std::uint64_t tag = 0;
  const auto run = [&](std::vector<std::string_view> args) {
    resp::Command command;
    command.args = args;
    std::string raw;
    resp::append_command(raw, args);
    const auto t = tag++;
    dispatcher.dispatch(command, raw, client, ReplyTarget{replies, t, 0});
    runtime->run();
    return replies->got[t];
  };

  CHECK(run({"GET", "product:1"}) == "$4\r\nlamp\r\n");
  CHECK(db->fetches == 1);
  CHECK(run({"get", "product:1"}) == "$4\r\nlamp\r\n");  // any case
  CHECK(db->fetches == 1);
  // Writes pass through untouched; so do keys of no policy.
  CHECK(run({"SET", "product:1", "mine"}) == "+OK\r\n");
  CHECK(run({"GET", "product:1"}) == "$4\r\nmine\r\n");  // no TTL: a hit forever
  CHECK(run({"GET", "other"}) == "$-1\r\n");
  CHECK(redis.count("GET other") == 1);
  CHECK(redis.count("PTTL other") == 0);
  // Arity errors come first, from the dispatcher.
  CHECK(run({"GET"}).rfind("-ERR wrong number of arguments", 0) == 0);
  runtime->clear();  // pending timers hold the engine, which holds the runtime
  shared->flights().clear();
}
