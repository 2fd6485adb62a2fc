// The engine against the in-memory Redis and database fakes, on a manual clock.
#include "cache/engine.hpp"

#include "cache/store_hook.hpp"

#include <catch2/catch.hpp>
#include <map>

#include "fakes.hpp"

using namespace sidecache;
using namespace sidecache::cache;
using namespace sidecache::cache::test;
using namespace std::chrono_literals;

namespace {

class Recorder final : public ReplySink {
 public:
  std::map<std::uint64_t, std::string> replies;
  void on_reply(std::uint64_t tag, std::string_view reply) override {
    CHECK(replies.count(tag) == 0);  // exactly one reply per request
    replies[tag] = std::string(reply);
  }
};

config::CachePolicy product_policy() {
  config::CachePolicy p;
  p.name = "products";
  p.match = "product:*";
  p.table = "products";
  p.key_column = "id";
  p.value_column = "name";
  p.ttl = 1000ms;
  p.ttl_jitter = 0;
  p.negative_ttl = 5000ms;
  p.load_timeout = 2000ms;
  p.xfetch_beta = 0;
  return p;
}

// The same rows as a hash policy (HGETALL item:1 -> name lamp).
config::CachePolicy item_policy() {
  auto p = product_policy();
  p.name = "items";
  p.match = "item:*";
  p.mapping = config::ValueMapping::kHash;
  p.value_column.clear();
  return p;
}

struct Worker {
  std::shared_ptr<ManualRuntime> runtime = std::make_shared<ManualRuntime>();
  FakeRedis redis{*runtime};
  std::shared_ptr<Engine> engine;
};

struct Fixture {
  std::shared_ptr<FakeDb> db = std::make_shared<FakeDb>();
  std::shared_ptr<CacheStats> stats = std::make_shared<CacheStats>();
  std::shared_ptr<Shared> shared = std::make_shared<Shared>(db, stats);
  Worker w;
  std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
  std::uint64_t next_tag = 0;
  std::vector<Worker*> others;  // extra workers of a test, cleared with the fixture

  ~Fixture() {
    // Pending timers, held jobs and flights reference the engines, which reference their
    // runtimes: drop them so everything is freed.
    shared->flights().clear();
    db->held.clear();
    w.runtime->clear();
    for (auto* o : others) o->runtime->clear();
  }

  explicit Fixture(std::vector<config::CachePolicy> policies = {product_policy()}) {
    config::CacheConfig cache;
    cache.policies = std::move(policies);
    shared->set_policies(cache);
    w.engine = std::make_shared<Engine>(shared, w.runtime, w.redis);
    db->rows["1"] = row({{"id", "1"}, {"name", "lamp"}, {"price", "10"}});
    db->rows["2"] = row({{"id", "2"}, {"name", "desk"}, {"price", "99"}});
    db->rows["3"] = row({{"id", "3"}, {"name", "sofa"}, {"price", std::nullopt}});
  }
  // Sends a request; returns its tag, or -1 when the engine did not take it.
  std::int64_t send(std::vector<std::string_view> args, Worker* on = nullptr) {
    Worker& wk = on != nullptr ? *on : w;
    std::string name(args[0]);
    for (auto& c : name) c = static_cast<char>(c | 0x20);
    const std::uint64_t tag = next_tag++;
    // Through a chain of this one step, as a worker runs it.
    PolicyChain chain(shared);
    chain.add(*wk.engine);
    const resp::CommandInfo* info = resp::find_command(name);
    if (info == nullptr || !chain.handle(*info, args, ReplyTarget{recorder, tag, 0})) return -1;
    return static_cast<std::int64_t>(tag);
  }
  std::string reply(std::int64_t tag) {
    auto it = recorder->replies.find(static_cast<std::uint64_t>(tag));
    return it == recorder->replies.end() ? "<none>" : it->second;
  }
  std::string call(std::vector<std::string_view> args) {
    const auto tag = send(args);
    if (tag < 0) return "<not taken>";
    w.runtime->run();
    return reply(tag);
  }
  PolicyStats& st(const std::string& name = "products") { return *stats->policy(name); }
  // What the key holds (its text), or "<absent>".
  std::string text(const std::string& key) {
    const auto* e = w.redis.find(key);
    return e == nullptr || !e->text ? "<absent>" : *e->text;
  }
};

const std::string kNeg(kNegativeMarker);

}  // namespace

TEST_CASE("engine: a miss loads and stores with the TTL; the next GET is a hit") {
  Fixture f;
  CHECK(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");
  CHECK(f.db->fetches == 1);
  CHECK(f.w.redis.count("SET product:1 lamp PX 1000") == 1);
  CHECK(f.w.redis.pttl("product:1") == 1000);
  CHECK(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");
  CHECK(f.db->fetches == 1);
  CHECK(f.st().hits.get() == 1);
  CHECK(f.st().misses.get() == 1);
  CHECK(f.st().loads.get() == 1);
  // Keys of no policy, and commands the engine does not read through, are not taken.
  CHECK(f.call({"GET", "user:1"}) == "<not taken>");
  CHECK(f.call({"HGETALL", "product:1"}) == "<not taken>");
  CHECK(f.call({"SET", "product:1", "x"}) == "<not taken>");
  CHECK(f.call({"MGET", "a", "b"}) == "<not taken>");
  // After the TTL the key is gone and loads again.
  f.w.runtime->advance(1001ms);
  CHECK(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");
  CHECK(f.db->fetches == 2);
}

TEST_CASE("engine: json mapping stores the row as a JSON object") {
  auto p = product_policy();
  p.mapping = config::ValueMapping::kJson;
  Fixture f({p});
  CHECK(f.call({"GET", "product:3"}) ==
        "$37\r\n{\"id\":\"3\",\"name\":\"sofa\",\"price\":null}\r\n");
}

TEST_CASE("engine: MGET loads only the policy misses, in one batch per policy") {
  Fixture f;
  f.w.redis.data["plain"] = {"P", {}, std::nullopt};
  REQUIRE(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");  // cached
  f.db->fetched.clear();
  const auto r =
      f.call({"MGET", "product:1", "plain", "product:2", "product:3", "product:9", "nope"});
  CHECK(r == "*6\r\n$4\r\nlamp\r\n$1\r\nP\r\n$4\r\ndesk\r\n$4\r\nsofa\r\n$-1\r\n$-1\r\n");
  REQUIRE(f.db->fetched.size() == 1);
  CHECK(f.db->fetched[0] == std::vector<std::string>{"2", "3", "9"});
  CHECK(f.st().hits.get() == 1);
  CHECK(f.st().misses.get() == 4);
  // The negative marker is in the key itself.
  CHECK(f.w.redis.count("SET product:9 " + kNeg + " PX 5000") == 1);
  CHECK(f.text("product:9") == kNeg);
}

TEST_CASE("engine: misses within load_batch_window share one database call, bounded") {
  auto p = product_policy();
  p.load_batch_window = 5ms;
  p.load_batch_max = 5;
  Fixture f({p});
  const auto a = f.send({"GET", "product:1"});
  const auto b = f.send({"GET", "product:2"});
  const auto c = f.send({"MGET", "product:3", "product:8"});
  f.w.runtime->run();
  CHECK(f.db->fetches == 0);  // waiting for the window
  f.w.runtime->advance(5ms);
  REQUIRE(f.db->fetched.size() == 1);
  CHECK(f.db->fetched[0] == std::vector<std::string>{"1", "2", "3", "8"});
  CHECK(f.reply(a) == "$4\r\nlamp\r\n");
  CHECK(f.reply(b) == "$4\r\ndesk\r\n");
  CHECK(f.reply(c) == "*2\r\n$4\r\nsofa\r\n$-1\r\n");
  CHECK(f.st().loads.get() == 1);
  CHECK(f.st().keys_loaded.get() == 4);
  // A window that fills up is loaded at once; the next miss starts a new window.
  f.db->fetched.clear();
  f.w.redis.data.clear();
  f.send({"GET", "product:1"});
  f.send({"GET", "product:2"});
  f.send({"GET", "product:3"});
  f.send({"GET", "product:8"});
  f.send({"GET", "product:7"});
  const auto d = f.send({"GET", "product:9"});
  f.w.runtime->run();
  REQUIRE(f.db->fetched.size() == 1);
  CHECK(f.db->fetched[0] == std::vector<std::string>{"1", "2", "3", "8", "7"});
  f.w.runtime->advance(5ms);
  REQUIRE(f.db->fetched.size() == 2);
  CHECK(f.db->fetched[1] == std::vector<std::string>{"9"});
  CHECK(f.reply(d) == "$-1\r\n");
}

TEST_CASE("engine: hash read-through for HGET, HMGET, HGETALL, HEXISTS, HLEN") {
  auto p = item_policy();
  Fixture f({p});
  CHECK(f.call({"HGETALL", "item:3"}) == "*2\r\n$4\r\nname\r\n$4\r\nsofa\r\n");  // NULL: no field
  CHECK(f.w.redis.count("MULTI") == 1);
  CHECK(f.w.redis.count("HSET item:3 name sofa") == 1);
  CHECK(f.w.redis.count("PEXPIRE item:3 1000") == 1);
  CHECK(f.w.redis.count("EXEC") == 1);
  CHECK(f.db->fetches == 1);
  CHECK(f.call({"HGET", "item:3", "name"}) == "$4\r\nsofa\r\n");  // from Redis
  CHECK(f.call({"HLEN", "item:3"}) == ":1\r\n");
  CHECK(f.db->fetches == 1);
  CHECK(f.call({"HMGET", "item:2", "price", "nope", "name"}) ==
        "*3\r\n$2\r\n99\r\n$-1\r\n$4\r\ndesk\r\n");
  CHECK(f.call({"HEXISTS", "item:1", "price"}) == ":1\r\n");
  CHECK(f.call({"HEXISTS", "item:404", "price"}) == ":0\r\n");
  CHECK(f.call({"HGETALL", "item:404"}) == "*0\r\n");
  CHECK(f.call({"HLEN", "item:404"}) == ":0\r\n");
  CHECK(f.st("items").negative_hits.get() == 2);
  CHECK(f.call({"GET", "item:1"}) == "<not taken>");
}

TEST_CASE("engine: negative caching asks the database once per key per negative_ttl") {
  Fixture f;
  CHECK(f.call({"GET", "product:404"}) == "$-1\r\n");
  CHECK(f.call({"GET", "product:404"}) == "$-1\r\n");
  CHECK(f.call({"GET", "product:404"}) == "$-1\r\n");
  CHECK(f.db->fetches == 1);
  CHECK(f.st().negative_hits.get() == 2);
  CHECK(f.text("product:404") == kNeg);  // the key holds the negative marker
  CHECK(f.w.redis.find("sidecache:neg:product:404") == nullptr);
  f.w.runtime->advance(5001ms);
  CHECK(f.call({"GET", "product:404"}) == "$-1\r\n");
  CHECK(f.db->fetches == 2);
}

TEST_CASE("engine: concurrent misses on workers share one load (single flight)") {
  Fixture f;
  Worker other;
  other.engine = std::make_shared<Engine>(f.shared, other.runtime, other.redis);
  f.others.push_back(&other);
  f.db->hold = true;
  const auto a = f.send({"GET", "product:2"});
  const auto b = f.send({"GET", "product:2"});
  const auto c = f.send({"GET", "product:2"}, &other);
  f.w.runtime->run();
  other.runtime->run();
  CHECK(f.db->held.size() == 1);
  CHECK(f.reply(a) == "<none>");
  f.db->release();
  f.w.runtime->run();
  other.runtime->run();
  CHECK(f.reply(a) == "$4\r\ndesk\r\n");
  CHECK(f.reply(b) == "$4\r\ndesk\r\n");
  CHECK(f.reply(c) == "$4\r\ndesk\r\n");
  CHECK(f.db->fetches == 1);
  CHECK(f.st().single_flight_waits.get() == 2);
}

TEST_CASE("engine: a load that takes too long answers an error after load_timeout") {
  Fixture f;
  f.db->hold = true;
  const auto a = f.send({"GET", "product:1"});
  f.w.runtime->advance(1999ms);
  CHECK(f.reply(a) == "<none>");
  f.w.runtime->advance(2ms);
  CHECK(f.reply(a) == "-ERR sidecache: cannot load product:1: no result within 2000 ms\r\n");
  f.db->release();  // the late result is stored, not answered twice
  f.w.runtime->run();
  CHECK(f.w.redis.find("product:1") != nullptr);
  CHECK(f.st().load_errors[static_cast<std::size_t>(LoadError::kWait)].get() == 1);
}

TEST_CASE("engine: database errors and a full queue are error replies, counted by reason") {
  Fixture f;
  f.db->fail = db::Status{db::ErrorKind::kUnavailable, "connection refused"};
  CHECK(f.call({"GET", "product:1"}) ==
        "-ERR sidecache: cannot load product:1: database unavailable: connection refused\r\n");
  CHECK(f.st().load_errors[static_cast<std::size_t>(LoadError::kUnavailable)].get() == 1);
  f.db->fail.reset();
  f.db->full = true;
  CHECK(f.call({"GET", "product:1"}) ==
        "-ERR sidecache: cannot load product:1: database queue full\r\n");
  CHECK(f.st().load_errors[static_cast<std::size_t>(LoadError::kQueueFull)].get() == 1);
  f.db->full = false;
  CHECK(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");  // recovers
}

TEST_CASE("engine: stale-if-error answers a stale value up to its age, then errors") {
  auto p = product_policy();
  p.stale_if_error = 3000ms;
  Fixture f({p});
  REQUIRE(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");
  CHECK(f.w.redis.pttl("product:1") == 4000);  // ttl + grace
  f.db->fail = db::Status{db::ErrorKind::kTimeout, ""};
  f.w.runtime->advance(500ms);
  CHECK(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");  // fresh: no load
  CHECK(f.db->fetches == 1);
  f.w.runtime->advance(1500ms);  // 1 s past logical expiry
  CHECK(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");
  CHECK(f.db->fetches == 2);
  CHECK(f.st().stale_error.get() == 1);
  f.w.runtime->advance(2001ms);  // past stale_if_error: gone
  CHECK(f.call({"GET", "product:1"}) ==
        "-ERR sidecache: cannot load product:1: database query timed out\r\n");
  f.db->fail.reset();
  CHECK(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");
}

TEST_CASE("engine: stale-while-revalidate answers at once and refreshes once in the background") {
  auto p = product_policy();
  p.stale_while_revalidate = 2000ms;
  Fixture f({p});
  REQUIRE(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");
  f.db->rows["1"] = row({{"id", "1"}, {"name", "LAMP"}});
  f.w.runtime->advance(1500ms);
  f.db->hold = true;
  CHECK(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");  // stale, at once
  CHECK(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");
  CHECK(f.db->held.size() == 1);  // one refresh
  CHECK(f.st().stale_swr.get() == 2);
  f.db->release();
  f.w.runtime->run();
  CHECK(f.call({"GET", "product:1"}) == "$4\r\nLAMP\r\n");
  CHECK(f.st().hits.get() == 1);
}

TEST_CASE("engine: XFetch refreshes a hot key before it expires") {
  auto p = product_policy();
  p.xfetch_beta = 1.0;
  p.ttl = 10000ms;
  Fixture f({p});
  REQUIRE(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");
  f.shared->snapshot()->load_ms[0]->observe(1000);  // as if a load took 1 s
  // Far from expiry (9 s = 9 load times left): P = exp(-9) per read.
  for (int i = 0; i < 50; ++i) f.call({"GET", "product:1"});
  CHECK(f.st().early_refreshes.get() <= 1);
  // 50 ms before expiry nearly every read would refresh; single flight keeps it to one load.
  f.w.runtime->advance(9950ms);
  const auto before = f.db->fetches;
  f.db->hold = true;
  for (int i = 0; i < 20; ++i) CHECK(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");
  CHECK(f.db->held.size() == 1);
  f.db->release();
  f.w.runtime->run();
  CHECK(f.db->fetches == before + 1);
  CHECK(f.w.redis.pttl("product:1") > 9000);  // refreshed before it expired
  CHECK(f.st().misses.get() == 1);            // only the first read missed
}

TEST_CASE("engine: with a lease, another holder's value is awaited instead of loading") {
  auto p = product_policy();
  p.lease = true;
  p.lease_wait = 100ms;
  p.lease_in_read = GENERATE(config::LeaseInRead::kNever, config::LeaseInRead::kAlways);
  Fixture f({p});
  // Another sidecache's lease: the key holds its lease marker.
  f.w.redis.data["product:1"] = {lease_marker("someone-else"), {}, std::nullopt};
  const auto a = f.send({"GET", "product:1"});
  f.w.runtime->advance(20ms);
  CHECK(f.reply(a) == "<none>");
  CHECK(f.text("product:1") == lease_marker("someone-else"));  // the read wrote nothing
  f.w.redis.data["product:1"] = {"lamp-from-peer", {}, std::nullopt};
  f.w.runtime->advance(10ms);
  CHECK(f.reply(a) == "$14\r\nlamp-from-peer\r\n");
  CHECK(f.db->fetches == 0);
  CHECK(f.st().lease_waits.get() == 1);
  // The holder stores the negative marker: absent.
  f.w.redis.data["product:4"] = {lease_marker("someone-else"), {}, std::nullopt};
  const auto n = f.send({"GET", "product:4"});
  f.w.runtime->advance(10ms);
  f.w.redis.data["product:4"] = {kNeg, {}, std::nullopt};
  f.w.runtime->advance(10ms);
  CHECK(f.reply(n) == "$-1\r\n");
  CHECK(f.db->fetches == 0);
  // A holder that never delivers: after lease_wait we load ourselves (and store the row).
  f.w.redis.data["product:2"] = {lease_marker("someone-else"), {}, std::nullopt};
  const auto b = f.send({"GET", "product:2"});
  f.w.runtime->advance(200ms);
  CHECK(f.reply(b) == "$4\r\ndesk\r\n");
  CHECK(f.db->fetches == 1);
  CHECK(f.text("product:2") == "desk");
  // Our own lease is taken by the read, and the row replaces it (a conditional store: no
  // release needed).
  CHECK(f.call({"GET", "product:3"}) == "$4\r\nsofa\r\n");
  CHECK(f.w.redis.count("SET product:3 " + lease_marker("")) == 1);
  CHECK(f.w.redis.count("EVAL") == 1);
  CHECK(f.w.redis.count("GET product:3") ==
        (p.lease_in_read == config::LeaseInRead::kAlways ? 0 : 1));
  CHECK(f.text("product:3") == "sofa");
  CHECK(f.w.redis.pttl("product:3") == 1000);
  CHECK(f.w.redis.find("sidecache:lease:product:3") == nullptr);
}

// Answers the Redis requests one round trip at a time (the requests were sent with `hold` on)
// until the database is asked; returns the round trips that took and the requests of each.
std::vector<std::vector<std::string>> rounds_before_load(Fixture& f) {
  std::vector<std::vector<std::string>> rounds;
  std::size_t logged = f.w.redis.log.size() - f.w.redis.held.size();
  const std::size_t fetches = f.db->fetches;
  while (f.db->fetches == fetches && !f.w.redis.held.empty() && rounds.size() < 10) {
    rounds.emplace_back(f.w.redis.log.begin() + static_cast<std::ptrdiff_t>(logged),
                        f.w.redis.log.end());
    logged = f.w.redis.log.size();
    f.w.redis.answer_held();
    f.w.runtime->run();
  }
  f.w.redis.hold = false;
  f.w.redis.answer_held();
  f.w.runtime->run();
  return rounds;
}

TEST_CASE("engine: a miss costs one Redis round trip before the database (lease in the read)") {
  auto p = product_policy();
  p.lease = true;
  p.lease_in_read = config::LeaseInRead::kAlways;
  Fixture f({p});
  f.w.redis.hold = true;
  const auto tag = f.send({"GET", "product:1"});
  const auto rounds = rounds_before_load(f);
  REQUIRE(rounds.size() == 1);
  REQUIRE(rounds[0].size() == 2);
  CHECK(rounds[0][0].rfind("SET product:1 " + lease_marker(""), 0) == 0);
  CHECK(rounds[0][0].find(" NX GET PX 2000") != std::string::npos);
  CHECK(rounds[0][1] == "PTTL product:1");
  CHECK(f.db->fetches == 1);
  CHECK(f.reply(tag) == "$4\r\nlamp\r\n");
  CHECK(f.text("product:1") == "lamp");  // the row replaced our lease marker
  CHECK(f.w.redis.count("EXISTS") == 0);
  CHECK(f.w.redis.find("sidecache:lease:product:1") == nullptr);

  SECTION("a hit is its read alone, and writes nothing") {
    const auto log = f.w.redis.log.size();
    const auto ttl = f.w.redis.pttl("product:1");
    CHECK(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");
    const std::vector<std::string> sent(f.w.redis.log.begin() + static_cast<std::ptrdiff_t>(log),
                                        f.w.redis.log.end());
    REQUIRE(sent.size() == 2);
    CHECK(sent[0].rfind("SET product:1 " + lease_marker(""), 0) == 0);
    CHECK(sent[1] == "PTTL product:1");
    CHECK(f.text("product:1") == "lamp");
    CHECK(f.w.redis.pttl("product:1") == ttl);
    CHECK(f.st().hits.get() == 1);
  }
  SECTION("an MGET's misses share the round trip and the database call") {
    f.w.redis.hold = true;
    const auto t = f.send({"MGET", "product:2", "product:3", "product:404"});
    const auto r = rounds_before_load(f);
    REQUIRE(r.size() == 1);
    CHECK(r[0].size() == 6);  // SET .. NX GET + PTTL each
    CHECK(f.db->fetches == 2);
    CHECK(f.reply(t) == "*3\r\n$4\r\ndesk\r\n$4\r\nsofa\r\n$-1\r\n");
    CHECK(f.text("product:404") == kNeg);  // the marker replaced our lease
  }
  SECTION("a negative marker answers absent in the read's round trip") {
    CHECK(f.call({"GET", "product:404"}) == "$-1\r\n");
    CHECK(f.text("product:404") == kNeg);
    f.w.redis.hold = true;
    const auto t = f.send({"GET", "product:404"});
    const auto r = rounds_before_load(f);
    REQUIRE(r.size() == 1);
    CHECK(r[0].size() == 2);
    CHECK(f.db->fetches == 2);  // product:1, then product:404 once
    CHECK(f.reply(t) == "$-1\r\n");
    CHECK(f.st().negative_hits.get() == 1);
    CHECK(f.text("product:404") == kNeg);  // the read wrote nothing
  }
  SECTION("MGET of hits, misses, negative markers and plain keys: one round trip") {
    f.w.redis.data["plain"] = {"P", {}, std::nullopt};
    REQUIRE(f.call({"GET", "product:404"}) == "$-1\r\n");
    const auto fetches = f.db->fetches;
    f.w.redis.hold = true;
    const auto t = f.send({"MGET", "product:1", "plain", "product:404", "product:2", "nope"});
    const auto r = rounds_before_load(f);
    REQUIRE(r.size() == 1);
    CHECK(r[0].size() == 8);  // 3 x (SET .. NX GET + PTTL), 2 x GET
    CHECK(f.db->fetches == fetches + 1);
    CHECK(f.db->fetched.back() == std::vector<std::string>{"2"});
    CHECK(f.reply(t) == "*5\r\n$4\r\nlamp\r\n$1\r\nP\r\n$-1\r\n$4\r\ndesk\r\n$-1\r\n");
    CHECK(f.text("nope") == "<absent>");  // a plain key gets no marker
  }
}

TEST_CASE("engine: a lease taken after the read: hits stay GET + PTTL, a miss two round trips") {
  auto p = product_policy();
  p.lease = true;
  p.lease_in_read = config::LeaseInRead::kNever;
  Fixture f({p});
  f.w.redis.hold = true;
  const auto tag = f.send({"GET", "product:1"});
  const auto rounds = rounds_before_load(f);
  REQUIRE(rounds.size() == 2);
  CHECK(rounds[0] == std::vector<std::string>{"GET product:1", "PTTL product:1"});
  REQUIRE(rounds[1].size() == 1);  // the negative marker was in the read: the lease only
  CHECK(rounds[1][0].rfind("SET product:1 " + lease_marker(""), 0) == 0);
  CHECK(rounds[1][0].find(" NX PX 2000") != std::string::npos);
  CHECK(f.reply(tag) == "$4\r\nlamp\r\n");
  CHECK(f.text("product:1") == "lamp");
  const auto log = f.w.redis.log.size();
  CHECK(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");
  CHECK(std::vector<std::string>(f.w.redis.log.begin() + static_cast<std::ptrdiff_t>(log),
                                 f.w.redis.log.end()) ==
        std::vector<std::string>{"GET product:1", "PTTL product:1"});
  // A negative hit is the read alone.
  CHECK(f.call({"GET", "product:404"}) == "$-1\r\n");
  f.w.redis.hold = true;
  const auto t = f.send({"GET", "product:404"});
  CHECK(rounds_before_load(f).size() == 1);
  CHECK(f.reply(t) == "$-1\r\n");
  CHECK(f.st().negative_hits.get() == 1);
  // A write during the load wins here too (the lease is in the key).
  f.db->hold = true;
  const auto w = f.send({"GET", "product:2"});
  f.w.runtime->run();
  REQUIRE(f.db->held.size() == 1);
  f.w.redis.data["product:2"] = {"written", {}, std::nullopt};
  f.db->release();
  f.w.runtime->run();
  CHECK(f.reply(w) == "$4\r\ndesk\r\n");
  CHECK(f.text("product:2") == "written");
}

TEST_CASE("engine: a write during a load wins over the load's store") {
  auto p = product_policy();
  p.lease = true;
  p.lease_in_read = config::LeaseInRead::kAlways;
  Fixture f({p});
  f.db->hold = true;
  SECTION("a client SET") {
    const auto t = f.send({"GET", "product:1"});
    f.w.runtime->run();
    REQUIRE(f.db->held.size() == 1);
    REQUIRE(f.text("product:1").rfind(lease_marker(""), 0) == 0);
    f.w.redis.data["product:1"] = {"written", {}, std::nullopt};  // the client's SET
    f.db->release();
    f.w.runtime->run();
    CHECK(f.reply(t) == "$4\r\nlamp\r\n");    // the waiters get the loaded row
    CHECK(f.text("product:1") == "written");  // not overwritten by the load
    CHECK(f.st().stores_superseded.get() == 1);
    CHECK(f.call({"GET", "product:1"}) == "$7\r\nwritten\r\n");
  }
  SECTION("an invalidation (DEL)") {
    const auto t = f.send({"GET", "product:404"});
    f.w.runtime->run();
    REQUIRE(f.db->held.size() == 1);
    f.w.redis.data.erase("product:404");
    f.db->release();
    f.w.runtime->run();
    CHECK(f.reply(t) == "$-1\r\n");
    CHECK(f.text("product:404") == "<absent>");  // no negative marker over the invalidation
    CHECK(f.st().stores_superseded.get() == 1);
  }
  SECTION("a failed load gives the lease back") {
    f.db->fail = db::Status{db::ErrorKind::kUnavailable, "down"};
    const auto t = f.send({"GET", "product:1"});
    f.w.runtime->run();
    f.db->release();
    f.w.runtime->run();
    CHECK(f.reply(t).rfind("-", 0) == 0);
    CHECK(f.text("product:1") == "<absent>");
  }
}

TEST_CASE("engine: a refused lease attempt falls back to a plain read, then a lease round trip") {
  auto p = product_policy();
  p.lease = true;
  p.lease_in_read = config::LeaseInRead::kAlways;
  Fixture f({p});
  f.w.redis.data["product:1"] = {"lamp", {}, std::nullopt};
  SECTION("a Redis before 7.0 (syntax error): once, then no lease in the read") {
    f.w.redis.set_get_error = "-ERR syntax error\r\n";
    CHECK(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");  // a hit still answers
    CHECK(f.w.redis.count("GET product:1") == 1);
    f.w.redis.hold = true;
    const auto t = f.send({"GET", "product:2"});
    const auto r = rounds_before_load(f);
    REQUIRE(r.size() == 2);
    CHECK(r[0] == std::vector<std::string>{"GET product:2", "PTTL product:2"});
    REQUIRE(r[1].size() == 1);
    CHECK(r[1][0].rfind("SET product:2 " + lease_marker(""), 0) == 0);
    CHECK(r[1][0].find(" NX PX ") != std::string::npos);
    CHECK(f.reply(t) == "$4\r\ndesk\r\n");
    CHECK(f.text("product:2") == "desk");
  }
  SECTION("a Redis refusing writes (OOM): the read is answered, the miss loads without lease") {
    f.w.redis.set_get_error = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";
    CHECK(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");
    const auto log = f.w.redis.log.size();
    CHECK(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");
    CHECK(f.w.redis.log[log].rfind("SET product:1", 0) == 0);  // tried again: not sticky
    CHECK(f.call({"GET", "product:3"}) == "$4\r\nsofa\r\n");
    CHECK(f.db->fetches == 1);
  }
  SECTION("WRONGTYPE is the answer, as GET gives it") {
    f.w.redis.data["product:5"] = {std::nullopt, {{"f", "v"}}, std::nullopt};
    CHECK(f.call({"GET", "product:5"}).rfind("-WRONGTYPE", 0) == 0);
    CHECK(f.db->fetches == 0);
  }
}

TEST_CASE("engine: lease_in_read auto: the lease in the read unless the key recently hit here") {
  auto p = product_policy();
  p.lease = true;  // lease_in_read: auto, the default
  Fixture f({p});
  f.w.redis.hold = true;
  const auto tag = f.send({"GET", "product:1"});
  auto rounds = rounds_before_load(f);
  REQUIRE(rounds.size() == 1);  // never read here: the read takes the lease
  CHECK(rounds[0][0].find(" NX GET PX 2000") != std::string::npos);
  CHECK(f.reply(tag) == "$4\r\nlamp\r\n");
  // The first hit is still a lease read (nothing is known of the key before it).
  auto log = f.w.redis.log.size();
  CHECK(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");
  CHECK(f.w.redis.log[log].rfind("SET product:1 ", 0) == 0);
  // Then the key is known to hit until its PTTL runs out: a plain GET.
  log = f.w.redis.log.size();
  CHECK(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");
  CHECK(std::vector<std::string>(f.w.redis.log.begin() + static_cast<std::ptrdiff_t>(log),
                                 f.w.redis.log.end()) ==
        std::vector<std::string>{"GET product:1", "PTTL product:1"});
  CHECK(f.st().hits.get() == 2);
  // Deleted behind our back: the guess was wrong, the miss takes the lease in a second round
  // trip; the key is forgotten, so its next miss is one round trip again.
  f.w.redis.data.erase("product:1");
  f.w.redis.hold = true;
  const auto again = f.send({"GET", "product:1"});
  rounds = rounds_before_load(f);
  REQUIRE(rounds.size() == 2);
  CHECK(rounds[0] == std::vector<std::string>{"GET product:1", "PTTL product:1"});
  CHECK(rounds[1][0].find(" NX PX 2000") != std::string::npos);
  CHECK(f.reply(again) == "$4\r\nlamp\r\n");
  f.w.redis.data.erase("product:1");
  f.w.redis.hold = true;
  const auto third = f.send({"GET", "product:1"});
  CHECK(rounds_before_load(f).size() == 1);
  CHECK(f.reply(third) == "$4\r\nlamp\r\n");
}

TEST_CASE("engine: hash policies ask for their markers beside the key with the read") {
  auto p = item_policy();
  p.lease = true;
  Fixture f({p});
  f.w.redis.hold = true;
  const auto tag = f.send({"HGETALL", "item:1"});
  const auto rounds = rounds_before_load(f);
  REQUIRE(rounds.size() == 1);
  REQUIRE(rounds[0].size() == 4);
  CHECK(rounds[0][0] == "EXISTS sidecache:neg:item:1");
  CHECK(rounds[0][1].rfind("SET sidecache:lease:item:1 ", 0) == 0);
  CHECK(rounds[0][2] == "HGETALL item:1");
  CHECK(rounds[0][3] == "PTTL item:1");
  CHECK(f.reply(tag).rfind("*4\r\n", 0) == 0);
  CHECK(f.w.redis.find("sidecache:lease:item:1") == nullptr);  // released once stored
  // A negative hit is answered from the read's round trip.
  CHECK(f.call({"HGETALL", "item:404"}) == "*0\r\n");
  REQUIRE(f.w.redis.find("sidecache:neg:item:404") != nullptr);
  const auto fetches = f.db->fetches;
  f.w.redis.hold = true;
  const auto n = f.send({"HGETALL", "item:404"});
  const auto nr = rounds_before_load(f);
  REQUIRE_FALSE(nr.empty());
  CHECK(nr[0].size() == 4);
  for (std::size_t k = 1; k < nr.size(); ++k) {  // only the lease going back follows
    for (const auto& c : nr[k]) CHECK(c.rfind("EVAL", 0) == 0);
  }
  CHECK(f.reply(n) == "*0\r\n");
  CHECK(f.db->fetches == fetches);
  CHECK(f.w.redis.find("sidecache:lease:item:404") == nullptr);  // the lease it took went back
  // A hit that took the lease gives it back at once.
  auto log = f.w.redis.log.size();
  CHECK(f.call({"HGETALL", "item:1"}).rfind("*4\r\n", 0) == 0);
  CHECK(f.w.redis.count("SET sidecache:lease:item:1") == 2);
  CHECK(f.w.redis.find("sidecache:lease:item:1") == nullptr);
  // Known to hit now: the read alone.
  log = f.w.redis.log.size();
  CHECK(f.call({"HGETALL", "item:1"}).rfind("*4\r\n", 0) == 0);
  CHECK(std::vector<std::string>(f.w.redis.log.begin() + static_cast<std::ptrdiff_t>(log),
                                 f.w.redis.log.end()) ==
        std::vector<std::string>{"HGETALL item:1", "PTTL item:1"});
}

TEST_CASE("engine: lease_in_read false: hash policies' markers in a second round trip") {
  auto p = item_policy();
  p.lease = true;
  p.lease_in_read = config::LeaseInRead::kNever;
  Fixture f({p});
  f.w.redis.hold = true;
  const auto tag = f.send({"HGETALL", "item:1"});
  const auto rounds = rounds_before_load(f);
  REQUIRE(rounds.size() == 2);
  CHECK(rounds[0] == std::vector<std::string>{"HGETALL item:1", "PTTL item:1"});
  REQUIRE(rounds[1].size() == 2);
  CHECK(rounds[1][0] == "EXISTS sidecache:neg:item:1");
  CHECK(rounds[1][1].rfind("SET sidecache:lease:item:1 ", 0) == 0);
  CHECK(f.reply(tag).rfind("*4\r\n", 0) == 0);
  CHECK(f.w.redis.find("sidecache:lease:item:1") == nullptr);  // released once stored
  CHECK(f.call({"HGETALL", "item:404"}) == "*0\r\n");
  CHECK(f.w.redis.find("sidecache:neg:item:404") != nullptr);
}

TEST_CASE(
    "engine: without a lease, with or without negative caching, a miss goes from its read to "
    "the database") {
  auto p = product_policy();
  p.negative_ttl = GENERATE(0ms, 5000ms);
  Fixture f({p});
  f.w.redis.hold = true;
  const auto tag = f.send({"GET", "product:2"});
  const auto rounds = rounds_before_load(f);
  REQUIRE(rounds.size() == 1);
  CHECK(rounds[0] == std::vector<std::string>{"GET product:2", "PTTL product:2"});
  CHECK(f.reply(tag) == "$4\r\ndesk\r\n");
  CHECK(f.w.redis.count("SET product:2 desk PX 1000") == 1);  // no lease: a plain SET
  f.w.redis.hold = true;
  const auto t = f.send({"GET", "product:404"});
  CHECK(rounds_before_load(f).size() == 1);
  CHECK(f.reply(t) == "$-1\r\n");
  CHECK(f.text("product:404") == (p.negative_ttl.count() > 0 ? kNeg : "<absent>"));
}

// A store hook that takes the policies named `taken` and answers what `keep` says.
class FakeHook final : public StoreHook {
 public:
  std::string taken;
  std::optional<std::string> keep;  // set: the cache is newer, holding this value
  std::vector<StoreRequest> requests;
  bool takes(const Policy& policy) const override { return policy.name() == taken; }
  std::string pending_hash(NodeSender&, std::string_view) const override { return {}; }
  void store(NodeSender& nodes, StoreRequest request,
             std::function<void(StoreOutcome)> done) override {
    requests.push_back(request);
    // One Redis request, as the write side's script is, so the reply comes later.
    auto loaded = request.loaded;
    auto keep_value = keep;
    nodes.send(
        0, command({"PTTL", request.key}),
        ReplyTarget{std::make_shared<CallbackSink>([done, loaded, keep_value](std::string_view) {
                      if (!keep_value) return done({loaded, true});
                      auto kept = std::make_shared<LoadResult>();
                      kept->kind = LoadResult::Kind::kValue;
                      kept->value.text = *keep_value;
                      done({kept, false});
                    }),
                    0, 0});
  }
};

TEST_CASE("engine: a store hook stores the loads of the policies it takes") {
  auto p = product_policy();
  p.lease = true;
  p.lease_in_read = config::LeaseInRead::kAlways;
  Fixture f({p});
  auto hook = std::make_shared<FakeHook>();
  f.shared->set_store_hook(hook);

  SECTION("a policy it does not take is stored by the engine") {
    hook->taken = "other";
    CHECK(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");
    CHECK(hook->requests.empty());
    CHECK(f.text("product:1") == "lamp");  // over the lease marker the read put there
    CHECK(f.w.redis.count("EVAL") == 1);
  }
  SECTION("stored by the hook: the readers get the row, the lease goes once stored") {
    hook->taken = "products";
    CHECK(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");
    REQUIRE(hook->requests.size() == 1);
    CHECK(hook->requests[0].key == "product:1");
    CHECK(hook->requests[0].miss);
    CHECK_FALSE(hook->requests[0].hash);
    CHECK(hook->requests[0].ttl == 1000ms);
    CHECK(f.w.redis.count("SET product:1") == 0);  // not by the engine, no lease in the key
    CHECK(f.w.redis.count("SET sidecache:lease:product:1") == 1);
    CHECK(f.w.redis.find("sidecache:lease:product:1") == nullptr);
  }
  SECTION("an absent row the hook stored gets the negative marker") {
    hook->taken = "products";
    CHECK(f.call({"GET", "product:404"}) == "$-1\r\n");
    CHECK(f.w.redis.find("sidecache:neg:product:404") != nullptr);
  }
  SECTION("a newer cached value is what the readers get") {
    hook->taken = "products";
    hook->keep = "written";
    CHECK(f.call({"GET", "product:1"}) == "$7\r\nwritten\r\n");
    CHECK(f.call({"GET", "product:404"}) == "$7\r\nwritten\r\n");
    CHECK(f.w.redis.find("sidecache:neg:product:404") == nullptr);  // not stored: no marker
  }
}

TEST_CASE("engine: warming loads the configured ids in batches") {
  auto p = product_policy();
  p.warm = config::WarmConfig{{"1", "2", "3", "404"}, "", 2, 3};
  Fixture f({p});
  std::uint64_t warmed = 99;
  f.w.engine->warm(f.shared->snapshot(), 0, [&](std::uint64_t n) { warmed = n; });
  f.w.runtime->run();
  CHECK(warmed == 3);
  CHECK(f.db->fetched.size() == 2);  // batches of 3
  CHECK(f.st().keys_warmed.get() == 3);
  CHECK(f.w.redis.find("product:2") != nullptr);
  CHECK(f.call({"GET", "product:2"}) == "$4\r\ndesk\r\n");
  CHECK(f.db->fetches == 2);
}

TEST_CASE("engine: a row deleted while its value is stale: nil, the stale value goes") {
  auto p = product_policy();
  p.stale_if_error = 3000ms;
  Fixture f({p});
  REQUIRE(f.call({"GET", "product:1"}) == "$4\r\nlamp\r\n");
  f.db->rows.erase("1");
  f.w.runtime->advance(1500ms);
  CHECK(f.call({"GET", "product:1"}) == "$-1\r\n");
  CHECK(f.text("product:1") == kNeg);                // the marker replaced the stale value
  CHECK(f.call({"GET", "product:1"}) == "$-1\r\n");  // the negative marker now
  CHECK(f.db->fetches == 2);
  CHECK(f.st().negative_hits.get() == 1);
}

TEST_CASE("render: RESP3 clients get RESP3 nulls and maps") {
  Value hash;
  hash.is_hash = true;
  hash.fields = {{"name", "ann"}};
  const std::vector<std::string> hgetall = {"HGETALL", "user:1"};
  const std::vector<std::string> hget = {"HGET", "user:1", "nope"};
  const std::vector<std::string> get = {"GET", "k"};
  std::string out;
  render(ReadOp::kHgetall, hgetall, &hash, out, 3);
  CHECK(out == "%1\r\n$4\r\nname\r\n$3\r\nann\r\n");
  out.clear();
  render(ReadOp::kHgetall, hgetall, &hash, out, 2);
  CHECK(out == "*2\r\n$4\r\nname\r\n$3\r\nann\r\n");
  out.clear();
  render(ReadOp::kHget, hget, &hash, out, 3);
  CHECK(out == "_\r\n");
  out.clear();
  render(ReadOp::kGet, get, nullptr, out, 3);
  CHECK(out == "_\r\n");
  out.clear();
  render(ReadOp::kGet, get, nullptr, out, 2);
  CHECK(out == "$-1\r\n");
}

TEST_CASE("markers: the lease read command, and what a read value is") {
  CHECK(lease_read_command("product:1", "ab12", 2000) ==
        command({"SET", "product:1", lease_marker("ab12"), "NX", "GET", "PX", "2000"}));
  CHECK(marker_of(kNegativeMarker) == Marker::kNegative);
  CHECK(marker_of(lease_marker("ab12")) == Marker::kLease);
  CHECK(marker_of("lamp") == Marker::kNone);
  CHECK(marker_of("") == Marker::kNone);
  CHECK(marker_of(std::string_view("\0other", 6)) == Marker::kNone);
  CHECK(marker_of(std::string_view("sidecache:neg")) == Marker::kNone);  // no NUL: a value
}

TEST_CASE("engine: on a cluster pool the markers beside a key share its slot; no MULTI") {
  auto p = item_policy();
  p.lease = true;
  Fixture f({p});
  f.w.redis.slotted = true;  // MULTI and cross-slot scripts refused
  const auto tagged = SideKeys::kSlotTagged;
  CHECK(f.call({"HGETALL", "item:1"}).rfind("*4\r\n", 0) == 0);
  CHECK(f.w.redis.count("EXISTS " + negative_key("item:1", tagged)) == 1);
  CHECK(f.w.redis.count("SET " + lease_key("item:1", tagged) + " ") == 1);
  CHECK(f.w.redis.count("MULTI") == 0);
  CHECK(f.w.redis.count("EVAL " + std::string(kStoreHashScript)) == 1);
  CHECK(f.w.redis.find(lease_key("item:1", tagged)) == nullptr);  // released once stored
  CHECK(f.w.redis.find("sidecache:lease:item:1") == nullptr);
  const auto fetches = f.db->fetches;
  CHECK(f.call({"HGET", "item:1", "name"}) == "$4\r\nlamp\r\n");  // a hit
  CHECK(f.db->fetches == fetches);
  // Absent rows: the negative marker in the key's slot, keys with braces of their own too.
  for (const std::string key : {"item:404", "item:{x}9", "item:}"}) {
    CHECK(f.call({"HGETALL", key}) == "*0\r\n");
    REQUIRE(f.w.redis.find(negative_key(key, tagged)) != nullptr);
    CHECK(f.w.redis.find("sidecache:neg:" + key) == nullptr);
  }
  CHECK(f.call({"HGETALL", "item:404"}) == "*0\r\n");
  CHECK(f.db->fetches == fetches + 3);  // the marker answered
  CHECK(f.w.redis.refused == 0);
}
