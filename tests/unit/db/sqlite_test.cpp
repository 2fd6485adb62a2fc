#include "db/sqlite.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "contract.hpp"
#include "fixture.hpp"

using namespace sidecache::db;
using namespace std::chrono_literals;
using test::TempSqlite;
using Clock = std::chrono::steady_clock;

namespace {

std::string schema() {
  std::ifstream in(SIDECACHE_DB_SCHEMA);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A query source that counts for ever (until interrupted); one row per id otherwise.
const Source kSlow{"",
                   "",
                   {},
                   "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                   "SELECT ?1 AS id, count(*) AS n FROM c"};

}  // namespace

TEST_CASE("SQLite adapter: the Database contract", "[db][sqlite]") {
  TempSqlite file;
  file.exec(schema());
  SqliteDatabase db(file.config());
  test::check_contract(db, "?1");
}

TEST_CASE("SQLite adapter: concurrent increments all count", "[db][sqlite]") {
  TempSqlite file;
  file.exec(schema());
  test::check_concurrent_increments(
      [&] { return std::make_unique<SqliteDatabase>(file.config(5000)); });
}

TEST_CASE("SQLite adapter: the file is opened in WAL mode", "[db][sqlite]") {
  TempSqlite file;
  file.exec(schema());
  SqliteDatabase db(file.config());
  REQUIRE(db.fetch(test::products(), std::vector<std::string>{"1"}).status.ok());
  CHECK(file.scalar("PRAGMA journal_mode") == "wal");
}

TEST_CASE("SQLite adapter: a slow statement times out and the connection stays usable",
          "[db][sqlite]") {
  TempSqlite file;
  file.exec(schema());
  SqliteDatabase db(file.config(200));

  auto start = Clock::now();
  FetchResult r = db.fetch(kSlow, std::vector<std::string>{"1"});
  auto took = Clock::now() - start;
  CHECK(r.status.kind == ErrorKind::kTimeout);
  CHECK_THAT(r.status.message, Catch::Contains("query_timeout"));
  CHECK(took >= 190ms);
  CHECK(took < 1500ms);
  REQUIRE(r.rows.size() == 1);
  CHECK_FALSE(r.rows[0].has_value());

  start = Clock::now();
  const IdsResult ids = db.fetch_ids(
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c");
  CHECK(ids.status.kind == ErrorKind::kTimeout);
  CHECK(Clock::now() - start < 1500ms);

  r = db.fetch(test::products(), std::vector<std::string>{"1"});
  REQUIRE(r.status.ok());
  CHECK(test::value_of(r.rows[0], "name") == "apple");
}

TEST_CASE("SQLite adapter: a missing file is unavailable and never created", "[db][sqlite]") {
  TempSqlite file;
  auto config = file.config();
  config.path = file.dir() + "/missing.db";
  SqliteDatabase db(config);
  FetchResult r = db.fetch(test::products(), std::vector<std::string>{"1"});
  CHECK(r.status.kind == ErrorKind::kUnavailable);
  CHECK_THAT(r.status.message, Catch::Contains("missing.db") && Catch::Contains("does not exist"));
  CHECK_FALSE(std::filesystem::exists(config.path));
  CHECK(db.validate(test::products()).kind == ErrorKind::kUnavailable);
  CHECK(db.write("kv", "k", std::vector<Upsert>{{"a", {}}}, {}).kind == ErrorKind::kUnavailable);
  CHECK_FALSE(std::filesystem::exists(config.path));

  // The file appears: the next call opens it.
  file.exec(schema());
  std::filesystem::copy_file(file.path(), config.path);
  r = db.fetch(test::products(), std::vector<std::string>{"1"});
  REQUIRE(r.status.ok());
  CHECK(test::value_of(r.rows[0], "name") == "apple");
}

TEST_CASE("SQLite adapter: a file that is no database is unavailable", "[db][sqlite]") {
  TempSqlite file;
  {
    std::ofstream out(file.path(), std::ios::trunc);
    out << "this is not a database, it is a text file of some length......................";
  }
  SqliteDatabase db(file.config());
  const FetchResult r = db.fetch(test::products(), std::vector<std::string>{"1"});
  CHECK(r.status.kind == ErrorKind::kUnavailable);
  CHECK_THAT(r.status.message, Catch::Contains("not a database"));
}

TEST_CASE("SQLite adapter: a locked database is unavailable within the timeout", "[db][sqlite]") {
  TempSqlite file;
  file.exec(schema());
  sqlite3* holder = nullptr;
  REQUIRE(sqlite3_open(file.path().c_str(), &holder) == SQLITE_OK);
  REQUIRE(sqlite3_exec(holder, "BEGIN EXCLUSIVE; INSERT INTO kv VALUES ('x', 'y', 1);", nullptr,
                       nullptr, nullptr) == SQLITE_OK);

  SqliteDatabase db(file.config(200));
  const auto start = Clock::now();
  const Status s = db.write("kv", "k", std::vector<Upsert>{{"a", {{"v", "1"}}}}, {});
  const auto took = Clock::now() - start;
  CHECK(s.kind == ErrorKind::kUnavailable);
  CHECK_THAT(s.message, Catch::Contains("locked"));
  CHECK(took >= 150ms);
  CHECK(took < 1500ms);

  REQUIRE(sqlite3_exec(holder, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(holder);
  CHECK(db.write("kv", "k", std::vector<Upsert>{{"a", {{"v", "1"}}}}, {}).ok());
  CHECK(file.scalar("SELECT v FROM kv WHERE k = 'a'") == "1");
}
