// The per-worker write path against fakes: Redis requests and replies, the database threads
// and the event loop are all in the test's hands.
#include <catch2/catch.hpp>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cache/engine.hpp"
#include "cache/generation.hpp"
#include "resp/parser.hpp"
#include "route/cluster_slots.hpp"
#include "sidecache/util/text.hpp"
#include "write/writer.hpp"

namespace sidecache::write {
namespace {

class Loop final : public cache::Runtime {
 public:
  void post(std::function<void()> fn) override { queue.push_back(std::move(fn)); }
  void after(std::chrono::milliseconds, std::function<void()> fn) override {
    queue.push_back(std::move(fn));
  }
  void run() {
    while (!queue.empty()) {
      auto fn = std::move(queue.front());
      queue.pop_front();
      fn();
    }
  }
  std::deque<std::function<void()>> queue;
};

// Answers each request with `answer(args)`, later (on the loop).
class Redis final : public NodeSender {
 public:
  explicit Redis(Loop& loop) : loop_(loop) {}
  std::function<std::string(const std::vector<std::string>&)> answer =
      [](const std::vector<std::string>&) { return std::string("+OK\r\n"); };
  std::vector<std::vector<std::string>> requests;
  bool slotted = false;  // a Redis Cluster pool
  bool by_slot() const override { return slotted; }
  std::uint32_t node_count() const override { return 1; }
  std::uint32_t node_for_key(std::string_view) const override { return 0; }
  const std::string& node_name(std::uint32_t) const override { return name_; }
  void send(std::uint32_t, std::string_view request, ReplyTarget target) override {
    resp::RequestParser parser;
    resp::Command command;
    std::size_t used = 0;
    REQUIRE(parser.parse(request, command, used) == resp::ParseStatus::kCommand);
    std::vector<std::string> args(command.args.begin(), command.args.end());
    requests.push_back(args);
    std::string reply = answer(args);
    loop_.post([target = std::move(target), reply] { target.deliver(reply); });
  }

 private:
  Loop& loop_;
  std::string name_ = "n0";
};

class Db final : public db::Database, public cache::DbRunner {
 public:
  db::Status status;
  bool hold = false;
  std::vector<std::function<void(db::Database*)>> held;
  std::vector<std::string> written;  // "table:key=value"
  bool submit(std::function<void(db::Database*)> job) override {
    if (hold) {
      held.push_back(std::move(job));
    } else {
      job(this);
    }
    return true;
  }
  db::FetchResult fetch(const db::Source&, std::span<const std::string> ids) override {
    db::FetchResult r;
    r.rows.resize(ids.size());
    return r;
  }
  db::IdsResult fetch_ids(std::string_view) override { return {}; }
  db::Status validate(const db::Source&) override { return {}; }
  db::Status write(const std::string& table, const std::string&, std::span<const db::Upsert> ups,
                   std::span<const std::string> dels) override {
    if (!status.ok()) return status;
    for (const auto& u : ups) written.push_back(table + ":" + u.key + "=" + *u.values[0].second);
    for (const auto& d : dels) written.push_back(table + ":-" + d);
    return {};
  }
  std::map<std::string, std::int64_t> counters;  // by key
  db::IncrementResult increment(const std::string& table, const std::string&,
                                const std::string& key, const std::string& column,
                                std::int64_t delta) override {
    if (!status.ok()) return {status, 0};
    const std::int64_t v = counters[key] += delta;
    written.push_back(table + ":" + key + "." + column + "+=" + std::to_string(delta));
    return {{}, v};
  }
};

class Replies final : public ReplySink {
 public:
  std::vector<std::string> got;
  void on_reply(std::uint64_t, std::string_view reply) override { got.emplace_back(reply); }
};

struct Fixture {
  Loop loop;
  Redis redis{loop};
  std::shared_ptr<Db> db = std::make_shared<Db>();
  std::shared_ptr<Replies> replies = std::make_shared<Replies>();
  std::shared_ptr<Writer> writer;

  std::shared_ptr<cache::Shared> cache_shared;

  static config::CacheConfig policies(config::WriteMode mode, config::OnFull on_full,
                                      std::string table = "items") {
    config::CacheConfig cache;
    config::CachePolicy p;
    p.name = "items";
    p.match = "item:*";
    p.table = std::move(table);
    p.key_column = "id";
    p.value_column = "v";
    p.ttl = std::chrono::milliseconds(60000);
    p.write = mode;
    p.write_behind.on_full = on_full;
    cache.policies.push_back(p);
    return cache;
  }
  // A reload: the new policies in the snapshot the writer reads.
  void reload(config::WriteMode mode, std::string table) {
    cache_shared->set_policies(policies(mode, config::OnFull::kError, std::move(table)));
  }

  // `cluster`: a Redis Cluster pool (one queue per slot).
  explicit Fixture(config::WriteMode mode, config::OnFull on_full = config::OnFull::kError,
                   bool cluster = false) {
    auto shared = std::make_shared<WriterShared>();
    redis.slotted = cluster;
    cache_shared = std::make_shared<cache::Shared>(db, std::make_shared<cache::CacheStats>());
    cache_shared->set_policies(policies(mode, on_full));
    shared->cache = cache_shared;
    shared->db = db;
    shared->queues = {{"s", "p", "l", "d", "n"}};
    if (cluster) {
      shared->queues = slot_queues();
      shared->by_slot = true;
      shared->hints = std::make_shared<SlotHints>();
      hints = shared->hints;
    }
    shared->stats = std::make_shared<WriteStats>();
    shared->stats->nodes.push_back(std::make_unique<NodeQueueStats>());
    stats = shared->stats;
    writer = std::make_shared<Writer>(shared, std::shared_ptr<cache::Runtime>(&loop, [](auto*) {}),
                                      redis);
  }
  std::shared_ptr<WriteStats> stats;
  std::shared_ptr<SlotHints> hints;

  // Through a chain of this one step, as a worker runs it. `writes_keys` is what the command
  // table says (kFlagWrite).
  bool send(std::vector<std::string_view> args, bool writes_keys = true) {
    std::string name(args[0]);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const resp::CommandInfo* info = resp::find_command(name);
    REQUIRE(info != nullptr);
    REQUIRE(info->has(resp::kFlagWrite) == writes_keys);
    cache::PolicyChain chain(cache_shared);
    chain.add(*writer);
    return chain.handle(*info, args, ReplyTarget{replies, 0, 0});
  }
  bool sent(std::string_view verb) const {
    for (const auto& r : redis.requests) {
      if (r[0] == verb) return true;
    }
    return false;
  }
  // EVAL of `script` (cache/generation.hpp) sent.
  bool sent_script(std::string_view script) const {
    for (const auto& r : redis.requests) {
      if (r[0] == "EVAL" && r[1] == script) return true;
    }
    return false;
  }
  // The values the through finish script was asked to cache, in order.
  std::vector<std::string> finished() const {
    std::vector<std::string> out;
    for (const auto& r : redis.requests) {
      if (r[0] == "EVAL" && r[1] == cache::kThroughFinishScript && r[6] == "s") {
        out.push_back(r[8]);
      }
    }
    return out;
  }
  // Only the through write's generation was taken in Redis.
  bool only_generation_taken() const {
    for (const auto& r : redis.requests) {
      if (r[0] != "EVAL" || r[1] != cache::kGenerationScript) return false;
    }
    return !redis.requests.empty();
  }
};

TEST_CASE("through: the row first, then the cache with the policy TTL", "[write][writer]") {
  Fixture f(config::WriteMode::kThrough);
  REQUIRE(f.send({"SET", "item:1", "x"}));
  f.loop.run();
  CHECK(f.db->written == std::vector<std::string>{"items:1=x"});
  REQUIRE(f.replies->got == std::vector<std::string>{"+OK\r\n"});
  // The generation first (before the database), then the value if it is unchanged.
  REQUIRE(f.redis.requests.size() == 2);
  const auto& take = f.redis.requests[0];
  CHECK(take == std::vector<std::string>{"EVAL", std::string(cache::kGenerationScript), "1",
                                         "sidecache:gen:item:1", "10000", "bump"});
  const auto& r = f.redis.requests[1];
  REQUIRE(r.size() == 9);
  CHECK(r[1] == cache::kThroughFinishScript);
  CHECK(r[3] == "item:1");
  CHECK(r[4] == "sidecache:gen:item:1");
  CHECK(r[6] == "s");
  CHECK(std::stoll(r[7]) >= 54000);
  CHECK(r[8] == "x");
}

// Every script's keys in one slot (a cluster refuses others with -CROSSSLOT).
bool one_slot(const std::vector<std::string>& r) {
  if (r[0] != "EVAL") return true;
  const std::size_t keys = std::stoul(r[2]);
  for (std::size_t i = 4; i < 3 + keys; ++i) {
    if (route::key_slot(r[i]) != route::key_slot(r[3])) return false;
  }
  return true;
}

TEST_CASE("through and invalidate on a cluster pool: generations in the key's slot",
          "[write][writer][cluster]") {
  for (const auto mode : {config::WriteMode::kThrough, config::WriteMode::kInvalidate}) {
    Fixture f(mode);
    f.redis.slotted = true;
    for (const char* key : {"item:1", "item:{u}2", "item:}3"}) {
      REQUIRE(f.send({"SET", key, "x"}));
      f.loop.run();
      const std::string gen = cache::generation_key(key, cache::SideKeys::kSlotTagged);
      CHECK(route::key_slot(gen) == route::key_slot(key));
      bool named = false;
      for (const auto& r : f.redis.requests) {
        CHECK(one_slot(r));
        for (const auto& a : r) named = named || a == gen;
        for (const auto& a : r) CHECK(a != "sidecache:gen:" + std::string(key));
      }
      CHECK(named);
    }
    CHECK(f.replies->got == std::vector<std::string>(3, "+OK\r\n"));
  }
}

TEST_CASE("through: the generation taken is the one the cache write compares", "[write][writer]") {
  Fixture f(config::WriteMode::kThrough);
  f.redis.answer = [](const std::vector<std::string>& a) {
    if (a[0] == "EVAL" && a[1] == cache::kGenerationScript) {
      return std::string("$16\r\n1765000000000042\r\n");
    }
    return std::string(":0\r\n");  // another write came meanwhile: the key was deleted
  };
  REQUIRE(f.send({"SET", "item:1", "x"}));
  f.loop.run();
  CHECK(f.replies->got == std::vector<std::string>{"+OK\r\n"});
  REQUIRE(f.redis.requests.size() == 2);
  CHECK(f.redis.requests[1][5] == "1765000000000042");
  CHECK(f.cache_shared->snapshot()->stats[0]->write_races.get() == 1);
  CHECK(f.stats->cache_repairs.get() == 0);
}

TEST_CASE("a reload changes the write mode of the next write", "[write][writer][reload]") {
  Fixture f(config::WriteMode::kNone);
  CHECK_FALSE(f.send({"SET", "item:1", "x"}));  // none: routed as usual
  f.reload(config::WriteMode::kThrough, "items");
  REQUIRE(f.send({"SET", "item:1", "y"}));
  f.loop.run();
  CHECK(f.db->written == std::vector<std::string>{"items:1=y"});
  CHECK(f.replies->got == std::vector<std::string>{"+OK\r\n"});
  f.reload(config::WriteMode::kNone, "items");
  CHECK_FALSE(f.send({"SET", "item:1", "z"}));
}

TEST_CASE("a write in flight during a reload finishes with its own policy",
          "[write][writer][reload]") {
  Fixture f(config::WriteMode::kThrough);
  f.db->hold = true;
  REQUIRE(f.send({"SET", "item:1", "x"}));
  f.loop.run();
  REQUIRE(f.db->held.size() == 1);
  f.reload(config::WriteMode::kInvalidate, "elsewhere");  // the old snapshot is dropped
  f.db->hold = false;
  auto jobs = std::move(f.db->held);  // the jobs hold the writer: not kept by the fake
  jobs[0](f.db.get());
  jobs.clear();
  f.loop.run();
  CHECK(f.db->written == std::vector<std::string>{"items:1=x"});
  CHECK(f.finished() == std::vector<std::string>{"x"});  // through: cached, not deleted
  REQUIRE(f.send({"SET", "item:2", "y"}));
  f.loop.run();
  CHECK(f.db->written.back() == "elsewhere:2=y");
}

TEST_CASE("through: a database error answers an error and leaves Redis alone", "[write][writer]") {
  Fixture f(config::WriteMode::kThrough);
  f.db->status = {db::ErrorKind::kUnavailable, "down"};
  REQUIRE(f.send({"SET", "item:1", "x"}));
  f.loop.run();
  REQUIRE(f.replies->got.size() == 1);
  CHECK(f.replies->got[0].starts_with("-ERR database unavailable"));
  CHECK(f.only_generation_taken());
  CHECK(f.stats->write_errors.get() == 1);
}

TEST_CASE("through: a failed cache write deletes the key", "[write][writer]") {
  Fixture f(config::WriteMode::kThrough);
  f.redis.answer = [](const std::vector<std::string>& a) {
    return a[0] == "EVAL" && a[1] == cache::kThroughFinishScript ? std::string("-ERR OOM\r\n")
                                                                 : std::string(":1\r\n");
  };
  REQUIRE(f.send({"SET", "item:1", "x"}));
  f.loop.run();
  CHECK(f.replies->got == std::vector<std::string>{"+OK\r\n"});
  CHECK(f.redis.requests.back() == std::vector<std::string>{"DEL", "item:1"});
  CHECK(f.stats->cache_repairs.get() == 1);
}

TEST_CASE("through: INCRBY adds in the database, then caches the sum", "[write][writer]") {
  Fixture f(config::WriteMode::kThrough);
  REQUIRE(f.send({"INCRBY", "item:7", "5"}));
  REQUIRE(f.send({"DECR", "item:7"}));
  f.loop.run();
  CHECK(f.db->written == std::vector<std::string>{"items:7.v+=5", "items:7.v+=-1"});
  CHECK(f.replies->got == std::vector<std::string>{":5\r\n", ":4\r\n"});
  CHECK(f.finished() == std::vector<std::string>{"5", "4"});
}

TEST_CASE("invalidate: INCR adds in the database, then deletes the key", "[write][writer]") {
  Fixture f(config::WriteMode::kInvalidate);
  REQUIRE(f.send({"INCR", "item:8"}));
  f.loop.run();
  CHECK(f.replies->got == std::vector<std::string>{":1\r\n"});
  CHECK(f.sent_script(cache::kDeleteBumpScript));
  CHECK_FALSE(f.sent("SET"));
}

TEST_CASE("through: a refused increment is an error and leaves Redis alone", "[write][writer]") {
  Fixture f(config::WriteMode::kThrough);
  f.db->status = {db::ErrorKind::kRejected, "value is not an integer or out of range"};
  REQUIRE(f.send({"INCR", "item:9"}));
  f.loop.run();
  REQUIRE(f.replies->got.size() == 1);
  CHECK(f.replies->got[0].find("not an integer") != std::string::npos);
  CHECK(f.only_generation_taken());
}

TEST_CASE("invalidate: the row, then DEL of the key", "[write][writer]") {
  Fixture f(config::WriteMode::kInvalidate);
  REQUIRE(f.send({"SET", "item:2", "y"}));
  f.loop.run();
  CHECK(f.db->written == std::vector<std::string>{"items:2=y"});
  CHECK(f.sent_script(cache::kDeleteBumpScript));
  CHECK_FALSE(f.sent("SET"));
  CHECK(f.replies->got == std::vector<std::string>{"+OK\r\n"});
}

TEST_CASE("invalidate: a failed DEL after the commit is a well-formed error", "[write][writer]") {
  Fixture f(config::WriteMode::kInvalidate);
  f.redis.answer = [](const std::vector<std::string>& a) {
    return a.size() > 3 && a[3] == "item:2" ? std::string("-ERR node n0 is down\r\n")
                                            : std::string(":0\r\n");
  };
  REQUIRE(f.send({"SET", "item:2", "y"}));
  f.loop.run();
  REQUIRE(f.replies->got.size() == 1);
  CHECK(f.replies->got[0] ==
        "-ERR the database was written but the cached key could not be deleted: ERR node n0 is "
        "down\r\n");
}

TEST_CASE("writes of one key run one after the other", "[write][writer]") {
  Fixture f(config::WriteMode::kThrough);
  f.db->hold = true;
  REQUIRE(f.send({"SET", "item:1", "a"}));
  REQUIRE(f.send({"SET", "item:1", "b"}));
  f.loop.run();
  CHECK(f.db->held.size() == 1);  // the second waits for the first
  f.db->hold = false;
  auto jobs = std::move(f.db->held);
  for (auto& j : jobs) j(f.db.get());
  f.loop.run();
  CHECK(f.db->written == std::vector<std::string>{"items:1=a", "items:1=b"});
  CHECK(f.replies->got.size() == 2);
}

TEST_CASE("a request naming a key with writes in progress waits behind them", "[write][writer]") {
  Fixture f(config::WriteMode::kThrough);
  f.db->hold = true;
  cache::PolicyChain chain(f.cache_shared);
  chain.add(*f.writer);
  std::vector<std::string> routed;  // what reached routing, in order
  chain.set_router([&](const resp::CommandInfo&, std::span<const std::string_view> args,
                       const ReplyTarget& target) {
    std::string line;
    for (const auto a : args) line += (line.empty() ? "" : " ") + std::string(a);
    routed.push_back(line);
    target.deliver("+ROUTED\r\n");
  });
  const auto send = [&](std::vector<std::string_view> args, std::uint64_t tag) {
    const resp::CommandInfo* info = resp::find_command(lower(args[0]));
    REQUIRE(info != nullptr);
    return chain.handle(*info, args, ReplyTarget{f.replies, tag, 0});
  };
  // A client's pipeline: SET a, GET, SET b, MGET with another key, and a read of a plain key.
  REQUIRE(send({"SET", "item:1", "a"}, 0));
  CHECK(send({"GET", "item:1"}, 1));  // held, not passed on
  REQUIRE(send({"SET", "item:1", "b"}, 2));
  CHECK(send({"MGET", "other", "item:1", "item:1"}, 3));
  CHECK_FALSE(send({"GET", "other"}, 4));  // no write of its key in progress
  f.loop.run();
  CHECK(routed.empty());
  REQUIRE(f.db->held.size() == 1);  // SET b waits for SET a, and for the GET after it
  auto run_held = [&] {
    auto jobs = std::move(f.db->held);
    f.db->held.clear();
    for (auto& j : jobs) j(f.db.get());
    f.loop.run();
  };
  run_held();  // SET a committed and cached: the GET goes on, then SET b starts
  CHECK(routed == std::vector<std::string>{"GET item:1"});
  REQUIRE(f.db->held.size() == 1);
  run_held();
  CHECK(routed == std::vector<std::string>{"GET item:1", "MGET other item:1 item:1"});
  CHECK(f.db->written == std::vector<std::string>{"items:1=a", "items:1=b"});
  CHECK(f.replies->got ==
        std::vector<std::string>{"+OK\r\n", "+ROUTED\r\n", "+OK\r\n", "+ROUTED\r\n"});
  CHECK(f.stats->held.get() == 2);
}

TEST_CASE("a DEL of several keys waits for the writes of each, not only its first",
          "[write][writer]") {
  Fixture f(config::WriteMode::kThrough);
  auto cache = Fixture::policies(config::WriteMode::kThrough, config::OnFull::kError);
  cache.policies[0].delete_row_on_del = true;
  f.cache_shared->set_policies(cache);
  f.db->hold = true;
  REQUIRE(f.send({"SET", "item:2", "a"}));
  REQUIRE(f.send({"DEL", "item:1", "item:2"}));
  f.loop.run();
  REQUIRE(f.db->held.size() == 1);  // the SET's upsert; the DEL waits for it
  auto jobs = std::move(f.db->held);
  f.db->held.clear();
  for (auto& j : jobs) j(f.db.get());
  f.loop.run();
  REQUIRE(f.db->held.size() == 1);  // now the DEL's row deletes
  f.db->hold = false;
  jobs = std::move(f.db->held);
  for (auto& j : jobs) j(f.db.get());
  f.loop.run();
  CHECK(f.db->written == std::vector<std::string>{"items:2=a", "items:-1", "items:-2"});
  REQUIRE(f.replies->got.size() == 2);
  CHECK(f.replies->got[0] == "+OK\r\n");
}

TEST_CASE("behind: EVALSHA, EVAL when the script is not loaded", "[write][writer]") {
  Fixture f(config::WriteMode::kBehind);
  f.redis.answer = [](const std::vector<std::string>& a) {
    if (a[0] == "EVALSHA") return std::string("-NOSCRIPT No matching script\r\n");
    return std::string("+OK\r\n");
  };
  REQUIRE(f.send({"SET", "item:1", "x"}));
  f.loop.run();
  REQUIRE(f.redis.requests.size() >= 2);
  CHECK(f.redis.requests[0][0] == "EVALSHA");
  CHECK(f.redis.requests[0][1].size() == 40);
  CHECK(f.redis.requests[1][0] == "EVAL");
  CHECK(f.redis.requests[1][3] == "s");  // stream, pending, counter, then the write's key
  CHECK(f.redis.requests[1][4] == "p");
  CHECK(f.redis.requests[1][5] == "n");
  CHECK(f.redis.requests[1][6] == "item:1");
  CHECK(f.replies->got == std::vector<std::string>{"+OK\r\n"});
  CHECK(f.db->written.empty());  // the flusher writes the database
}

TEST_CASE("behind: plain SETs of one loop turn share one call of the sets script",
          "[write][writer]") {
  Fixture f(config::WriteMode::kBehind);
  f.redis.answer = [](const std::vector<std::string>& a) {
    if (a[0] != "EVALSHA") return std::string("+OK\r\n");
    return std::string(":2\r\n");  // the number of writes queued
  };
  REQUIRE(f.send({"SET", "item:1", "x"}));
  REQUIRE(f.send({"SET", "item:2", "y"}));
  CHECK(f.redis.requests.empty());  // waiting for the end of the loop turn
  f.loop.run();
  REQUIRE(f.redis.requests.size() == 1);
  const auto& r = f.redis.requests[0];
  REQUIRE(r.size() == 17);
  CHECK(r[1] == script_sha1(kEnqueueSetsScript));
  // KEYS: stream, pending, counter, the keys, their negative markers (same node in this fake).
  CHECK(std::vector<std::string>(r.begin() + 2, r.begin() + 10) ==
        std::vector<std::string>{"7", "s", "p", "n", "item:1", "item:2", "sidecache:neg:item:1",
                                 "sidecache:neg:item:2"});
  // ARGV: writes, queue_max, each write's policy and id, then key value pairs.
  CHECK(std::vector<std::string>(r.begin() + 10, r.end()) ==
        std::vector<std::string>{"2", "100000", "5:items1:15:items1:2", "item:1", "x", "item:2",
                                 "y"});
  CHECK(f.replies->got == std::vector<std::string>{"+OK\r\n", "+OK\r\n"});
}

TEST_CASE("behind: writes of one loop turn share one script call, each gets its reply",
          "[write][writer]") {
  Fixture f(config::WriteMode::kBehind);
  // The script answers one reply per write: OK for the first, an error for the second.
  f.redis.answer = [](const std::vector<std::string>& a) {
    if (a[0] != "EVALSHA") return std::string("+OK\r\n");
    return std::string("*2\r\n+OK\r\n-WRONGTYPE wrong kind\r\n");
  };
  REQUIRE(f.send({"SET", "item:1", "x"}));
  REQUIRE(f.send({"INCRBY", "item:2", "3"}));
  CHECK(f.redis.requests.empty());  // waiting for the end of the loop turn
  f.loop.run();
  REQUIRE(f.redis.requests.size() == 1);
  const auto& r = f.redis.requests[0];
  REQUIRE(r.size() == 26);
  CHECK(r[0] == "EVALSHA");
  CHECK(r[1] == script_sha1(kEnqueueScript));  // not only plain SETs: the general script
  // KEYS: stream, pending, counter, then each key and its negative marker (same node in this
  // fake).
  CHECK(r[2] == "7");
  CHECK(r[6] == "item:1");
  CHECK(r[7] == "sidecache:neg:item:1");
  CHECK(r[8] == "item:2");
  // ARGV per write: key count, queue_max, must_exist, policy, id, op, payload count, value.
  CHECK(std::vector<std::string>(r.begin() + 10, r.begin() + 18) ==
        std::vector<std::string>{"2", "100000", "0", "items", "1", "set", "1", "x"});
  CHECK(std::vector<std::string>(r.begin() + 18, r.end()) ==
        std::vector<std::string>{"2", "100000", "1", "items", "2", "incr", "1", "3"});
  CHECK(f.replies->got == std::vector<std::string>{"+OK\r\n", "-WRONGTYPE wrong kind\r\n"});
}

TEST_CASE("behind on a cluster pool: one call per slot, on that slot's queue",
          "[write][writer][cluster]") {
  Fixture f(config::WriteMode::kBehind, config::OnFull::kError, true);
  f.redis.answer = [](const std::vector<std::string>& a) {
    if (a[0] != "EVALSHA") return std::string("+OK\r\n");
    return std::string(":") + std::to_string((std::stoul(a[2]) - 3) / 2) + "\r\n";
  };
  // Keys of three slots; two of them in one slot ({u}), with a stray brace too.
  const std::vector<std::string> keys{"item:1", "item:{u}2", "item:}3", "item:{u}4"};
  for (const auto& k : keys) REQUIRE(f.send({"SET", k, "v"}));
  f.loop.run();
  REQUIRE(f.redis.requests.size() == 3);
  std::set<std::uint16_t> slots;
  for (const auto& r : f.redis.requests) {
    REQUIRE(r[0] == "EVALSHA");
    CHECK(r[1] == script_sha1(kEnqueueSetsScript));
    const std::uint16_t slot = route::key_slot(r[6]);  // the first write's key
    slots.insert(slot);
    const NodeQueue q = slot_queue(slot);
    CHECK(std::vector<std::string>(r.begin() + 3, r.begin() + 6) ==
          std::vector<std::string>{q.stream, q.pending, q.count});
    const std::size_t nkeys = std::stoul(r[2]);
    for (std::size_t i = 3; i < 3 + nkeys; ++i) CHECK(route::key_slot(r[i]) == slot);
  }
  CHECK(slots.size() == 3);
  const auto& u = f.redis.requests[1];  // item:{u}2 and item:{u}4, in order
  CHECK(u[6] == "item:{u}2");
  CHECK(u[7] == "item:{u}4");
  CHECK(f.replies->got == std::vector<std::string>(4, "+OK\r\n"));
  // The flusher learns of the three slots (marked once the scripts answered).
  const auto marked = f.hints->take();
  CHECK(std::set<std::uint16_t>(marked.begin(), marked.end()) == slots);
  CHECK(f.hints->take().empty());
}

TEST_CASE("behind on a cluster pool: a DEL keeps a queued value by the slot's pending hash",
          "[write][writer][cluster]") {
  Fixture f(config::WriteMode::kBehind, config::OnFull::kError, true);
  f.redis.answer = [](const std::vector<std::string>&) { return std::string(":1\r\n"); };
  REQUIRE(f.send({"DEL", "item:{u}9"}));
  f.loop.run();
  bool seen = false;
  for (const auto& r : f.redis.requests) {
    if (r[0] != "EVAL" || r[1] != kDelUnlessQueuedScript) continue;
    seen = true;
    CHECK(r[3] == "item:{u}9");
    CHECK(r[4] == slot_queue(route::key_slot("u")).pending);
  }
  CHECK(seen);
  CHECK(f.replies->got == std::vector<std::string>{":1\r\n"});
}

TEST_CASE("behind: a script call that fails answers each of its writes with the error",
          "[write][writer]") {
  Fixture f(config::WriteMode::kBehind);
  f.redis.answer = [](const std::vector<std::string>& a) {
    if (a[0] != "EVALSHA") return std::string("+OK\r\n");
    return std::string("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
  };
  REQUIRE(f.send({"SET", "item:1", "x"}));
  REQUIRE(f.send({"SET", "item:2", "y"}));
  REQUIRE(f.send({"SET", "item:3", "z"}));
  f.loop.run();
  REQUIRE(f.redis.requests.size() == 1);  // one call for the three
  REQUIRE(f.replies->got.size() == 3);
  for (const auto& reply : f.replies->got) CHECK(reply.starts_with("-WRONGTYPE"));
  CHECK(f.stats->write_errors.get() == 3);
}

TEST_CASE("behind: a request that is not a write sends the queued writes first",
          "[write][writer]") {
  Fixture f(config::WriteMode::kBehind);
  REQUIRE(f.send({"SET", "item:1", "x"}));
  CHECK(f.redis.requests.empty());
  CHECK_FALSE(f.send({"GET", "item:1"}, false));  // the caller sends the GET after this
  REQUIRE(f.redis.requests.size() == 1);
  CHECK(f.redis.requests[0][0] == "EVALSHA");
  f.loop.run();
  CHECK(f.redis.requests.size() == 1);  // nothing sent twice
  CHECK(f.replies->got == std::vector<std::string>{"+OK\r\n"});
}

TEST_CASE("behind: a full queue answers an error (on_full error)", "[write][writer]") {
  Fixture f(config::WriteMode::kBehind);
  f.redis.answer = [](const std::vector<std::string>&) {
    return std::string("-SIDECACHE_FULL write-behind queue is full\r\n");
  };
  REQUIRE(f.send({"SET", "item:1", "x"}));
  f.loop.run();
  REQUIRE(f.replies->got.size() == 1);
  CHECK(f.replies->got[0].find("queue of node n0 is full") != std::string::npos);
  CHECK(f.stats->backpressure.get() == 1);
}

TEST_CASE("unmappable commands are answered at once", "[write][writer]") {
  Fixture f(config::WriteMode::kThrough);
  REQUIRE(f.send({"LPUSH", "item:1", "x"}));
  REQUIRE(f.replies->got.size() == 1);
  CHECK(f.replies->got[0].starts_with("-ERR LPUSH cannot be written"));
  CHECK_FALSE(f.send({"SET", "other", "x"}));
  CHECK_FALSE(f.send({"EXPIRE", "item:1", "5"}));
}

TEST_CASE("MSET: one SET per key, +OK once all succeeded", "[write][writer]") {
  Fixture f(config::WriteMode::kThrough);
  REQUIRE(f.send({"MSET", "plain", "1", "item:1", "x", "item:2", "y"}));
  f.loop.run();
  CHECK(f.db->written == std::vector<std::string>{"items:1=x", "items:2=y"});
  CHECK(f.replies->got == std::vector<std::string>{"+OK\r\n"});
  bool plain = false;
  for (const auto& r : f.redis.requests) {
    plain = plain || r == std::vector<std::string>{"SET", "plain", "1"};
  }
  CHECK(plain);
  CHECK(f.stats->writes[static_cast<std::size_t>(config::WriteMode::kThrough)].get() == 2);
  // Plain keys only: not the writer's.
  CHECK_FALSE(f.send({"MSET", "a", "1", "b", "2"}));
}

TEST_CASE("MSET: one failed key answers its error, once", "[write][writer]") {
  Fixture f(config::WriteMode::kThrough);
  f.db->status = {db::ErrorKind::kRejected, "no"};
  REQUIRE(f.send({"MSET", "item:1", "x", "plain", "1", "item:2", "y"}));
  f.loop.run();
  REQUIRE(f.replies->got.size() == 1);
  CHECK(f.replies->got[0] == "-ERR database rejected the write: no\r\n");
}

TEST_CASE("refused writes are counted", "[write][writer]") {
  Fixture f(config::WriteMode::kThrough);
  REQUIRE(f.send({"RENAME", "plain", "item:1"}));
  CHECK(f.replies->got.at(0).starts_with("-ERR RENAME changes key 'item:1'"));
  const std::vector<std::string_view> set = {"SET", "item:1", "x"};
  cache::PolicyChain chain(f.cache_shared);
  chain.add(*f.writer);
  CHECK_FALSE(chain.refusal_in_transaction(*resp::find_command("set"), set).empty());
  CHECK(f.stats->refused.get() == 2);
}

TEST_CASE("chain: write modes, then read-through; each key matched once", "[write][chain]") {
  Fixture f(config::WriteMode::kThrough);
  auto engine = std::make_shared<cache::Engine>(
      f.cache_shared, std::shared_ptr<cache::Runtime>(&f.loop, [](auto*) {}), f.redis);
  cache::PolicyChain chain(f.cache_shared);
  chain.add(*f.writer);
  chain.add(*engine);
  const auto run = [&](std::vector<std::string_view> args) {
    std::string name(args[0]);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return chain.handle(*resp::find_command(name), args, ReplyTarget{f.replies, 0, 0});
  };
  CHECK(run({"SET", "item:1", "x"}));  // the write mode's
  CHECK(chain.last_request().matches_made() == 1);
  // No delete_row_on_del: the writer looks at both keys, the engine (not a read) at none, and
  // DEL is routed as usual.
  CHECK_FALSE(run({"DEL", "item:1", "plain"}));
  CHECK(chain.last_request().matches_made() == 2);
  CHECK(run({"LPUSH", "item:1", "x"}));  // refused: it cannot be mapped to the row
  CHECK(chain.last_request().matches_made() == 1);
  // A read without a cache role: neither step matches its key.
  CHECK_FALSE(run({"LRANGE", "item:1", "0", "-1"}));
  CHECK(chain.last_request().matches_made() == 0);
  f.loop.run();
}

}  // namespace
}  // namespace sidecache::write
