// The PostgreSQL adapter. Cases that need no server run always; the [.postgres] cases are
// hidden: tests/integration/test_db_postgres.py starts a server, loads schema.sql and runs them
// with SIDECACHE_TEST_PG (conninfo), SIDECACHE_TEST_PG_STOP and SIDECACHE_TEST_PG_START (shell
// commands that stop and start that server).
#include "db/postgres.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <future>
#include <thread>

#include "config/config.hpp"
#include "contract.hpp"
#include "db/executor.hpp"
#include "db/stats.hpp"
#include "wait.hpp"

using namespace sidecache::db;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

sidecache::config::DatabaseConfig pg_config(std::string conninfo, int query_ms = 1000,
                                            int connect_ms = 1000) {
  sidecache::config::DatabaseConfig c;
  c.kind = sidecache::config::DatabaseKind::kPostgres;
  c.conninfo = std::move(conninfo);
  c.query_timeout = std::chrono::milliseconds(query_ms);
  c.connect_timeout = std::chrono::milliseconds(connect_ms);
  return c;
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) FAIL(name << " is not set (run through tests/integration/test_db_postgres.py)");
  return v;
}

// A listening socket on 127.0.0.1 that never answers (its backlog takes the connection).
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

const Source kSleep{"", "", {}, "SELECT $1::text AS id, pg_sleep(5) AS slept"};

}  // namespace

TEST_CASE("PostgreSQL adapter: a refused connection is unavailable at once", "[db][pg]") {
  int port = 0;
  {
    SilentListener probe;  // a port that was free a moment ago, closed again
    port = probe.port();
  }
  ThreadStats stats;
  PostgresDatabase db(
      pg_config("host=127.0.0.1 port=" + std::to_string(port) + " user=postgres dbname=postgres"),
      &stats);
  const auto start = Clock::now();
  const FetchResult r = db.fetch(test::products(), std::vector<std::string>{"1"});
  CHECK(r.status.kind == ErrorKind::kUnavailable);
  CHECK_THAT(r.status.message, Catch::Contains("cannot connect"));
  CHECK(Clock::now() - start < 500ms);
  REQUIRE(r.rows.size() == 1);
  CHECK_FALSE(r.rows[0].has_value());
  CHECK(stats.connects.get() == 0);
}

TEST_CASE("PostgreSQL adapter: a server that never answers times out at connect_timeout",
          "[db][pg]") {
  SilentListener silent;
  PostgresDatabase db(pg_config("host=127.0.0.1 port=" + std::to_string(silent.port()) +
                                    " user=postgres dbname=postgres connect_timeout=30",
                                1000, 300));
  const auto start = Clock::now();
  const Status s = db.validate(test::products());
  const auto took = Clock::now() - start;
  CHECK(s.kind == ErrorKind::kUnavailable);
  CHECK_THAT(s.message, Catch::Contains("timed out"));
  CHECK(took >= 290ms);
  CHECK(took < 1000ms);
}

TEST_CASE("PostgreSQL adapter: a bad conninfo is unavailable with libpq's message", "[db][pg]") {
  PostgresDatabase db(pg_config("this is not a conninfo"));
  const IdsResult r = db.fetch_ids("SELECT 1");
  CHECK(r.status.kind == ErrorKind::kUnavailable);
  CHECK_FALSE(r.status.message.empty());
}

TEST_CASE("PostgreSQL adapter: the Database contract", "[.postgres]") {
  PostgresDatabase db(pg_config(env("SIDECACHE_TEST_PG")));
  test::check_contract(db, "$1");
}

TEST_CASE("PostgreSQL adapter: concurrent increments all count", "[.postgres]") {
  const std::string conninfo = env("SIDECACHE_TEST_PG");
  test::check_concurrent_increments(
      [&] { return std::make_unique<PostgresDatabase>(pg_config(conninfo)); });
}

TEST_CASE("PostgreSQL adapter: ids the key type cannot hold are absent", "[.postgres]") {
  PostgresDatabase db(pg_config(env("SIDECACHE_TEST_PG")));
  // "abc" is no integer: PostgreSQL rejects the statement; the adapter asks id by id.
  FetchResult r = db.fetch(test::products(), std::vector<std::string>{"abc", "2", "99999999999"});
  REQUIRE(r.status.ok());
  CHECK_FALSE(r.rows[0].has_value());
  CHECK(test::value_of(r.rows[1], "name") == "pear");
  CHECK_FALSE(r.rows[2].has_value());
  r = db.fetch(Source{"", "", {}, "SELECT name FROM products WHERE id = $1"},
               std::vector<std::string>{"1", "x", "3"});
  REQUIRE(r.status.ok());
  CHECK(test::value_of(r.rows[0], "name") == "apple");
  CHECK_FALSE(r.rows[1].has_value());
  CHECK(test::value_of(r.rows[2], "name") == "fig");

  // Other data exceptions are errors of the query, not absent rows.
  r = db.fetch(Source{"", "", {}, "SELECT 1 / (id - id) AS x FROM products WHERE id = $1"},
               std::vector<std::string>{"1"});
  CHECK(r.status.kind == ErrorKind::kRejected);
  CHECK_THAT(r.status.message, Catch::Contains("division by zero"));
  CHECK_FALSE(r.rows.at(0).has_value());
}

TEST_CASE("PostgreSQL adapter: a slow query is cancelled at query_timeout", "[.postgres]") {
  ThreadStats stats;
  PostgresDatabase db(pg_config(env("SIDECACHE_TEST_PG"), 300), &stats);
  REQUIRE(db.validate(test::products()).ok());
  REQUIRE(stats.connects.get() == 1);

  auto start = Clock::now();
  FetchResult r = db.fetch(kSleep, std::vector<std::string>{"1"});
  auto took = Clock::now() - start;
  CHECK(r.status.kind == ErrorKind::kTimeout);
  CHECK_THAT(r.status.message, Catch::Contains("query_timeout"));
  CHECK(took >= 290ms);
  CHECK(took < 900ms);  // 300 ms and the cancel, never the 5 s sleep

  // The same connection answers the next call (cancelled, not dropped).
  start = Clock::now();
  r = db.fetch(test::products(), std::vector<std::string>{"1"});
  REQUIRE(r.status.ok());
  CHECK(test::value_of(r.rows[0], "name") == "apple");
  CHECK(Clock::now() - start < 300ms);
  CHECK(stats.connects.get() == 1);

  // A warming query too.
  start = Clock::now();
  const IdsResult ids = db.fetch_ids("SELECT id FROM products, pg_sleep(5)");
  CHECK(ids.status.kind == ErrorKind::kTimeout);
  CHECK(Clock::now() - start < 900ms);
  CHECK(db.fetch_ids("SELECT id FROM products ORDER BY id").ids.size() == 3);
}

TEST_CASE("PostgreSQL adapter: the session's statement_timeout is query_timeout + 250 ms",
          "[.postgres]") {
  PostgresDatabase db(pg_config(env("SIDECACHE_TEST_PG"), 1234));
  const IdsResult r =
      db.fetch_ids("SELECT setting FROM pg_settings WHERE name = 'statement_timeout'");
  REQUIRE(r.status.ok());
  CHECK(r.ids == std::vector<std::string>{"1484"});
}

TEST_CASE("PostgreSQL adapter: a stopped server is unavailable and the next call reconnects",
          "[.postgres]") {
  ThreadStats stats;
  PostgresDatabase db(pg_config(env("SIDECACHE_TEST_PG"), 1000, 1000), &stats);
  REQUIRE(db.fetch(test::products(), std::vector<std::string>{"1"}).status.ok());

  REQUIRE(std::system(env("SIDECACHE_TEST_PG_STOP").c_str()) == 0);
  auto start = Clock::now();
  FetchResult r = db.fetch(test::products(), std::vector<std::string>{"1"});
  CHECK(r.status.kind == ErrorKind::kUnavailable);
  CHECK(Clock::now() - start < 1500ms);
  start = Clock::now();
  CHECK(db.write("kv", "k", std::vector<Upsert>{{"w", {{"v", "1"}}}}, {}).kind ==
        ErrorKind::kUnavailable);
  CHECK(Clock::now() - start < 1500ms);

  REQUIRE(std::system(env("SIDECACHE_TEST_PG_START").c_str()) == 0);
  r = db.fetch(test::products(), std::vector<std::string>{"1"});
  REQUIRE(r.status.ok());
  CHECK(test::value_of(r.rows[0], "name") == "apple");
  CHECK(stats.connects.get() == 2);
  CHECK(stats.reconnects.get() == 1);
  REQUIRE(db.write("kv", "k", {}, std::vector<std::string>{"w"}).ok());
}

TEST_CASE("PostgreSQL adapter: a connection killed between calls is replaced at once",
          "[.postgres]") {
  ThreadStats stats;
  PostgresDatabase db(pg_config(env("SIDECACHE_TEST_PG")), &stats);
  PostgresDatabase killer(pg_config(env("SIDECACHE_TEST_PG")));
  const auto kill = [&] {
    const IdsResult pid = db.fetch_ids("SELECT pg_backend_pid()");
    REQUIRE(pid.ids.size() == 1);
    const IdsResult killed = killer.fetch_ids("SELECT pg_terminate_backend(" + pid.ids[0] + ")");
    REQUIRE(killed.ids == std::vector<std::string>{"t"});
  };
  kill();
  // A read retries once on a new connection: no error for the caller.
  FetchResult r = db.fetch(test::products(), std::vector<std::string>{"3"});
  REQUIRE(r.status.ok());
  CHECK(test::value_of(r.rows[0], "name") == "fig");
  CHECK(stats.reconnects.get() == 1);
  // A write whose connection broke before COMMIT was sent is retried too.
  kill();
  REQUIRE(db.write("kv", "k", std::vector<Upsert>{{"killed", {{"v", "1"}}}}, {}).ok());
  CHECK(stats.reconnects.get() == 2);
  r = db.fetch(Source{"kv", "k", {"v"}, ""}, std::vector<std::string>{"killed"});
  REQUIRE(r.status.ok());
  CHECK(test::value_of(r.rows[0], "v") == "1");
  REQUIRE(db.write("kv", "k", {}, std::vector<std::string>{"killed"}).ok());
}

TEST_CASE("PostgreSQL adapter: a slow query on one thread does not hold up another",
          "[.postgres]") {
  auto config = pg_config(env("SIDECACHE_TEST_PG"), 1500);
  config.pool_size = 2;
  config.max_queue = 10;
  Executor ex(config);
  std::promise<std::pair<ErrorKind, Clock::duration>> slow, fast;
  const auto start = Clock::now();
  REQUIRE(ex.submit([&](Database* db) {
    const FetchResult r = db->fetch(kSleep, std::vector<std::string>{"1"});
    slow.set_value({r.status.kind, Clock::now() - start});
  }));
  REQUIRE(test::eventually([&] { return ex.stats().busy.load() == 1; }));  // the slow one runs
  REQUIRE(ex.submit([&](Database* db) {
    const FetchResult r = db->fetch(test::products(), std::vector<std::string>{"2"});
    fast.set_value({r.rows.at(0) ? r.status.kind : ErrorKind::kRejected, Clock::now() - start});
  }));
  auto fast_f = fast.get_future();
  auto slow_f = slow.get_future();
  REQUIRE(fast_f.wait_for(5s) == std::future_status::ready);
  REQUIRE(slow_f.wait_for(5s) == std::future_status::ready);
  const auto [fast_kind, fast_at] = fast_f.get();
  const auto [slow_kind, slow_at] = slow_f.get();
  CHECK(fast_kind == ErrorKind::kNone);
  CHECK(fast_at < 1000ms);
  CHECK(slow_kind == ErrorKind::kTimeout);
  CHECK(slow_at >= 1400ms);
  CHECK(slow_at < 2500ms);
}
