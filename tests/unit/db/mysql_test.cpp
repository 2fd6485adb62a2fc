// The MySQL / MariaDB adapter. Cases that need no server run always; the [.mysql] cases are
// hidden: tests/integration/test_db_mysql.py starts a MariaDB server, loads schema_mysql.sql
// and runs them with SIDECACHE_TEST_MYSQL_PORT (root, no password, database sidecache_test) and
// SIDECACHE_TEST_MYSQL_STOP / SIDECACHE_TEST_MYSQL_START (shell commands that stop and start
// that server).
#include "db/mysql.hpp"

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
#include "db/row_json.hpp"
#include "db/stats.hpp"
#include "wait.hpp"

using namespace sidecache::db;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) FAIL(name << " is not set (run through tests/integration/test_db_mysql.py)");
  return v;
}

sidecache::config::DatabaseConfig my_config(int port, int query_ms = 1000, int connect_ms = 1000) {
  sidecache::config::DatabaseConfig c;
  c.kind = sidecache::config::DatabaseKind::kMysql;
  c.host = "127.0.0.1";
  c.port = static_cast<std::uint16_t>(port);
  c.user = "root";
  c.dbname = "sidecache_test";
  c.query_timeout = std::chrono::milliseconds(query_ms);
  c.connect_timeout = std::chrono::milliseconds(connect_ms);
  return c;
}

sidecache::config::DatabaseConfig server_config(int query_ms = 1000) {
  return my_config(std::stoi(env("SIDECACHE_TEST_MYSQL_PORT")), query_ms);
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

const Source kSleep{"", "", {}, "SELECT ? AS id, SLEEP(5) AS slept"};

}  // namespace

TEST_CASE("MySQL adapter: a refused connection is unavailable at once", "[db][mysql]") {
  int port = 0;
  {
    SilentListener probe;  // a port that was free a moment ago, closed again
    port = probe.port();
  }
  ThreadStats stats;
  MysqlDatabase db(my_config(port), &stats);
  const auto start = Clock::now();
  const FetchResult r = db.fetch(test::products(), std::vector<std::string>{"1"});
  CHECK(r.status.kind == ErrorKind::kUnavailable);
  CHECK_THAT(r.status.message, Catch::Contains("cannot connect"));
  CHECK(Clock::now() - start < 500ms);
  REQUIRE(r.rows.size() == 1);
  CHECK_FALSE(r.rows[0].has_value());
  CHECK(stats.connects.get() == 0);
}

TEST_CASE("MySQL adapter: a server that never answers times out at connect_timeout",
          "[db][mysql]") {
  SilentListener silent;
  MysqlDatabase db(my_config(silent.port(), 1000, 1000));
  const auto start = Clock::now();
  const Status s = db.validate(test::products());
  const auto took = Clock::now() - start;
  CHECK(s.kind == ErrorKind::kUnavailable);
  CHECK_THAT(s.message, Catch::Contains("cannot connect"));
  CHECK(took >= 900ms);
  CHECK(took < 2500ms);
}

TEST_CASE("MySQL adapter: a password variable that is not set is unavailable, named",
          "[db][mysql]") {
  auto config = my_config(1);
  config.password = {sidecache::config::SecretSource::Kind::kEnv, "SIDECACHE_TEST_NO_SUCH_VAR",
                     "test.yaml:3:5"};
  MysqlDatabase db(config);
  const IdsResult r = db.fetch_ids("SELECT 1");
  CHECK(r.status.kind == ErrorKind::kUnavailable);
  CHECK_THAT(r.status.message, Catch::Contains("SIDECACHE_TEST_NO_SUCH_VAR"));
  CHECK_THAT(r.status.message, Catch::Contains("test.yaml:3:5"));
}

TEST_CASE("MySQL adapter: the Database contract", "[.mysql]") {
  MysqlDatabase db(server_config());
  test::check_contract(db, "?");
}

TEST_CASE("MySQL adapter: concurrent increments all count", "[.mysql]") {
  const auto config = server_config();
  test::check_concurrent_increments([&] { return std::make_unique<MysqlDatabase>(config); });
}

TEST_CASE("MySQL adapter: values are typed from the result metadata", "[.mysql]") {
  MysqlDatabase db(server_config());
  const FetchResult r = db.fetch(Source{"typed", "id", {}, ""}, std::vector<std::string>{"1", "2"});
  REQUIRE(r.status.ok());
  REQUIRE(r.rows[0].has_value());
  REQUIRE(r.rows[1].has_value());
  CHECK(row_json(*r.rows[0], true) ==
        R"({"id":1,"i":-7,"u":18446744073709551615,"d":12345678901234567890.0123456789,)"
        R"("f":0.1,"flag":true,"b1":true,"b8":5,"doc":{"a": [1, 2.5, null], "b": "x"},)"
        R"("raw":"AP8Q","blob_col":"3q2+7w==","t":"café","at":"2024-05-01T10:00:00.250",)"
        R"("ts":"2024-05-01T10:00:00","day":"2024-05-01","y":2024,"e":"green","big_text":")" +
            std::string(1000, 'x') + R"("})");
  // TINYINT(1) holding 2 stays an integer; BIT(1) 0 is false; JSON null is null.
  CHECK(row_json(*r.rows[1], true) ==
        R"({"id":2,"i":null,"u":0,"d":-0.5000000000,"f":-1e300,"flag":2,"b1":false,"b8":0,)"
        R"("doc":null,"raw":"","blob_col":"","t":"","at":null,"ts":null,"day":null,"y":null,)"
        R"("e":null,"big_text":""})");
  // The text form keeps every value a string.
  CHECK_THAT(row_json(*r.rows[0], false), Catch::StartsWith(R"({"id":"1","i":"-7",)"));
}

TEST_CASE("MySQL adapter: a slow query is stopped with KILL QUERY at query_timeout", "[.mysql]") {
  ThreadStats stats;
  MysqlDatabase db(server_config(300), &stats);
  REQUIRE(db.validate(test::products()).ok());
  REQUIRE(stats.connects.get() == 1);

  auto start = Clock::now();
  FetchResult r = db.fetch(kSleep, std::vector<std::string>{"1"});
  auto took = Clock::now() - start;
  CHECK(r.status.kind == ErrorKind::kTimeout);
  CHECK_THAT(r.status.message, Catch::Contains("query_timeout"));
  CHECK(took >= 290ms);
  CHECK(took < 900ms);  // 300 ms and the KILL, never the 5 s sleep

  // The same connection answers the next calls (the query was killed, not the connection).
  for (int i = 0; i < 3; ++i) {
    start = Clock::now();
    r = db.fetch(test::products(), std::vector<std::string>{"1"});
    REQUIRE(r.status.ok());
    CHECK(test::value_of(r.rows[0], "name") == "apple");
    CHECK(Clock::now() - start < 300ms);
  }
  CHECK(stats.connects.get() == 1);

  // A warming query and a write too; the write's transaction is rolled back.
  start = Clock::now();
  const IdsResult ids = db.fetch_ids("SELECT id FROM products WHERE SLEEP(5) = 0");
  CHECK(ids.status.kind == ErrorKind::kTimeout);
  CHECK(Clock::now() - start < 900ms);
  CHECK(db.fetch_ids("SELECT id FROM products ORDER BY id").ids.size() == 3);
  CHECK(stats.connects.get() == 1);
}

TEST_CASE("MySQL adapter: the session's max_statement_time is query_timeout + 250 ms", "[.mysql]") {
  MysqlDatabase db(server_config(1234));
  const IdsResult r = db.fetch_ids("SELECT @@max_statement_time");
  REQUIRE(r.status.ok());
  REQUIRE(r.ids.size() == 1);
  CHECK(std::stod(r.ids[0]) == Approx(1.484));
}

TEST_CASE("MySQL adapter: a stopped server is unavailable and the next call reconnects",
          "[.mysql]") {
  ThreadStats stats;
  MysqlDatabase db(server_config(), &stats);
  REQUIRE(db.fetch(test::products(), std::vector<std::string>{"1"}).status.ok());

  REQUIRE(std::system(env("SIDECACHE_TEST_MYSQL_STOP").c_str()) == 0);
  auto start = Clock::now();
  FetchResult r = db.fetch(test::products(), std::vector<std::string>{"1"});
  CHECK(r.status.kind == ErrorKind::kUnavailable);
  CHECK(Clock::now() - start < 1500ms);
  start = Clock::now();
  CHECK(db.write("kv", "k", std::vector<Upsert>{{"w", {{"v", "1"}}}}, {}).kind ==
        ErrorKind::kUnavailable);
  CHECK(Clock::now() - start < 1500ms);

  REQUIRE(std::system(env("SIDECACHE_TEST_MYSQL_START").c_str()) == 0);
  r = db.fetch(test::products(), std::vector<std::string>{"1"});
  REQUIRE(r.status.ok());
  CHECK(test::value_of(r.rows[0], "name") == "apple");
  CHECK(stats.connects.get() == 2);
  CHECK(stats.reconnects.get() == 1);
  REQUIRE(db.write("kv", "k", {}, std::vector<std::string>{"w"}).ok());
}

TEST_CASE("MySQL adapter: a connection killed between calls is replaced at once", "[.mysql]") {
  ThreadStats stats;
  MysqlDatabase db(server_config(), &stats);
  MysqlDatabase killer(server_config());
  const auto kill = [&] {
    const IdsResult id = db.fetch_ids("SELECT CONNECTION_ID()");
    REQUIRE(id.ids.size() == 1);
    REQUIRE(killer.fetch_ids("KILL CONNECTION " + id.ids[0]).status.ok());
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

TEST_CASE("MySQL adapter: a slow query on one thread does not hold up another", "[.mysql]") {
  auto config = server_config(1500);
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
