#include "db/executor.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "contract.hpp"
#include "fixture.hpp"
#include "wait.hpp"

using namespace sidecache::db;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::eventually;
using test::Gate;

namespace {

// A Database that answers every call with ok and nothing found.
class NullDatabase final : public Database {
 public:
  FetchResult fetch(const Source&, std::span<const std::string> ids) override {
    return {{}, std::vector<std::optional<Row>>(ids.size())};
  }
  IdsResult fetch_ids(std::string_view) override { return {}; }
  Status validate(const Source&) override { return {ErrorKind::kRejected, "no"}; }
  Status write(const std::string&, const std::string&, std::span<const Upsert>,
               std::span<const std::string>) override {
    return {};
  }
  IncrementResult increment(const std::string&, const std::string&, const std::string&,
                            const std::string&, std::int64_t) override {
    return {};
  }
};

Executor::Factory null_factory() {
  return [](ThreadStats*) { return std::make_unique<NullDatabase>(); };
}

}  // namespace

TEST_CASE("Executor: a full queue rejects at once", "[db][executor]") {
  Executor ex(1, 2, null_factory());
  Gate gate;
  std::atomic<int> ran{0};
  std::atomic<bool> had_db{false};  // checked here: Catch's macros are not thread-safe
  REQUIRE(ex.submit([&](Database* db) {
    had_db = db != nullptr;
    gate.wait();
    ++ran;
  }));
  REQUIRE(eventually([&] { return ex.stats().busy.load() == 1; }));
  CHECK(ex.submit([&](Database*) { ++ran; }));
  CHECK(ex.submit([&](Database*) { ++ran; }));
  CHECK(ex.stats().queue_depth.load() == 2);
  const auto start = Clock::now();
  CHECK_FALSE(ex.submit([&](Database*) { ++ran; }));  // queue full: no wait
  CHECK(Clock::now() - start < 100ms);
  CHECK(ex.stats().rejected.load() == 1);
  gate.open();
  CHECK(eventually([&] { return ran.load() == 3; }));
  CHECK(eventually([&] { return ex.stats().busy.load() == 0; }));
  CHECK(ex.stats().queue_depth.load() == 0);
  CHECK(ex.stats().jobs.load() == 3);
  CHECK(had_db.load());
}

TEST_CASE("Executor: stop lets running jobs finish and gives queued jobs nullptr",
          "[db][executor]") {
  Executor ex(2, 100, null_factory());
  Gate gate;
  std::atomic<int> with_db{0}, without_db{0};
  for (int i = 0; i < 2; ++i) {
    REQUIRE(ex.submit([&](Database* db) {
      gate.wait();
      ++(db ? with_db : without_db);
    }));
  }
  REQUIRE(eventually([&] { return ex.stats().busy.load() == 2; }));
  for (int i = 0; i < 5; ++i) {
    REQUIRE(ex.submit([&](Database* db) { ++(db ? with_db : without_db); }));
  }
  std::thread stopper([&] { ex.stop(); });
  // stop() has begun once submit() refuses; then the running jobs may finish. Probes accepted
  // before that are queued jobs too.
  std::atomic<int> probes_accepted{0}, probes_null{0};
  REQUIRE(eventually([&] {
    if (!ex.submit([&](Database* db) { ++(db ? with_db : probes_null); })) return true;
    ++probes_accepted;
    return false;
  }));
  gate.open();
  stopper.join();
  CHECK(with_db.load() == 2);     // the running jobs, with their Database
  CHECK(without_db.load() == 5);  // each queued job exactly once, with nullptr
  CHECK(probes_null.load() == probes_accepted.load());
  CHECK_FALSE(ex.submit([](Database*) {}));
  ex.stop();  // idempotent
  CHECK(without_db.load() == 5);
}

TEST_CASE("Executor: the destructor also runs queued jobs with nullptr", "[db][executor]") {
  std::atomic<int> calls{0};
  {
    Executor ex(1, 100, null_factory());
    Gate gate;
    REQUIRE(ex.submit([&](Database*) {
      gate.wait();
      ++calls;
    }));
    REQUIRE(eventually([&] { return ex.stats().busy.load() == 1; }));
    REQUIRE(ex.submit([&](Database* db) {
      CHECK(db == nullptr);
      ++calls;
    }));
    // The gate opens once stop() has begun (submit() refuses from then on): the running job
    // finishes, the queued one gets nullptr. Probes accepted before that do nothing.
    std::thread opener([&] {
      eventually([&] { return !ex.submit([](Database*) {}); });
      gate.open();
    });
    ex.stop();
    opener.join();
  }
  CHECK(calls.load() == 2);
}

TEST_CASE("Executor: jobs run in parallel, each thread with its own Database", "[db][executor]") {
  Executor ex(4, 100, null_factory());
  std::mutex mutex;
  std::set<Database*> seen;
  std::atomic<int> running{0}, most{0}, done{0};
  for (int i = 0; i < 8; ++i) {
    REQUIRE(ex.submit([&](Database* db) {
      {
        const std::lock_guard lock(mutex);
        seen.insert(db);
      }
      const int now = ++running;
      int was = most.load();
      while (now > was && !most.compare_exchange_weak(was, now)) {
      }
      // The first jobs hold their threads until all four run at once (bounded: with fewer
      // threads this gives up and `most` stays below 4).
      eventually([&] { return most.load() == 4; });
      --running;
      ++done;
    }));
  }
  REQUIRE(eventually([&] { return done.load() == 8; }, 15000ms));
  CHECK(most.load() == 4);
  CHECK(seen.size() == 4);
  CHECK(seen.count(nullptr) == 0);
}

TEST_CASE("Executor: a job that throws does not kill its thread", "[db][executor]") {
  Executor ex(1, 10, null_factory());
  REQUIRE(ex.submit([](Database*) { throw std::runtime_error("boom"); }));
  std::promise<bool> after;
  REQUIRE(ex.submit([&](Database* db) { after.set_value(db != nullptr); }));
  auto f = after.get_future();
  REQUIRE(f.wait_for(5s) == std::future_status::ready);
  CHECK(f.get());
}

TEST_CASE("Executor over SQLite: a slow query does not hold up another thread's query",
          "[db][executor][sqlite]") {
  test::TempSqlite file;
  {
    std::ifstream in(SIDECACHE_DB_SCHEMA);
    std::stringstream text;
    text << in.rdbuf();
    file.exec(text.str());
  }
  auto config = file.config(1500);
  config.pool_size = 2;
  config.max_queue = 10;
  Executor ex(config);

  std::promise<std::pair<ErrorKind, Clock::duration>> slow, fast;
  const Source slow_source{"",
                           "",
                           {},
                           "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                           "SELECT ?1, count(*) FROM c"};
  const auto start = Clock::now();
  REQUIRE(ex.submit([&](Database* db) {
    const FetchResult r = db->fetch(slow_source, std::vector<std::string>{"1"});
    slow.set_value({r.status.kind, Clock::now() - start});
  }));
  REQUIRE(eventually([&] { return ex.stats().busy.load() == 1; }));  // the slow one runs
  REQUIRE(ex.submit([&](Database* db) {
    const FetchResult r = db->fetch(test::products(), std::vector<std::string>{"1"});
    fast.set_value({r.rows.at(0) ? r.status.kind : ErrorKind::kRejected, Clock::now() - start});
  }));
  auto fast_f = fast.get_future();
  auto slow_f = slow.get_future();
  REQUIRE(fast_f.wait_for(5s) == std::future_status::ready);
  REQUIRE(slow_f.wait_for(5s) == std::future_status::ready);
  const auto [fast_kind, fast_at] = fast_f.get();
  const auto [slow_kind, slow_at] = slow_f.get();
  CHECK(fast_kind == ErrorKind::kNone);
  CHECK(fast_at < 700ms);
  CHECK(slow_kind == ErrorKind::kTimeout);
  CHECK(slow_at >= 1400ms);
  CHECK(slow_at < 3000ms);

  const ExecutorStats& stats = ex.stats();
  CHECK(stats.calls(ErrorKind::kNone) == 1);
  CHECK(stats.calls(ErrorKind::kTimeout) == 1);
  CHECK(stats.connects() == 2);  // one connection per thread
  CHECK(stats.reconnects() == 0);
  std::uint64_t observed = 0;
  for (auto n : stats.latency_buckets()) observed += n;
  CHECK(observed == 2);
  CHECK(stats.latency_sum_seconds() >= 1.4);
}
