// What every Database adapter must do, checked against the tables of schema.sql. The SQLite
// test runs these on a temp file, the PostgreSQL test (hidden, [.postgres]) on a real server.
// `p1` is how the adapter writes the query parameter: "?1" or "$1".
#pragma once

#include <catch2/catch.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "db/database.hpp"

namespace sidecache::db::test {

inline std::string value_of(const std::optional<Row>& row, std::string_view column) {
  if (!row) return "<absent>";
  const std::string* v = row->get(column);
  return v ? *v : "<null>";
}

inline Source products(std::vector<std::string> columns = {"name", "price"}) {
  return Source{"products", "id", std::move(columns), ""};
}

inline void check_fetch_table(Database& db) {
  const std::vector<std::string> ids = {"2", "99", "1", "1", "3"};
  FetchResult r = db.fetch(products(), ids);
  REQUIRE(r.status.ok());
  REQUIRE(r.rows.size() == ids.size());
  CHECK(value_of(r.rows[0], "name") == "pear");
  CHECK(value_of(r.rows[0], "price") == "2.00");
  CHECK_FALSE(r.rows[1].has_value());
  CHECK(value_of(r.rows[2], "name") == "apple");
  CHECK(value_of(r.rows[3], "name") == "apple");  // the same id twice
  CHECK(value_of(r.rows[4], "name") == "fig");
  CHECK(value_of(r.rows[4], "price") == "<null>");  // NULL
  CHECK(r.rows[4]->get("price") == nullptr);
  CHECK(r.rows[0]->columns == std::vector<std::string>{"name", "price"});
  CHECK(r.rows[0]->get("note") == nullptr);  // not read

  // Every column (*): the key column is in the row too.
  r = db.fetch(products({}), std::vector<std::string>{"2"});
  REQUIRE(r.status.ok());
  REQUIRE(r.rows[0].has_value());
  CHECK(r.rows[0]->columns == std::vector<std::string>{"id", "name", "price", "note"});
  CHECK(value_of(r.rows[0], "id") == "2");
  CHECK(value_of(r.rows[0], "note") == "ripe");

  // No ids: nothing to do.
  r = db.fetch(products(), std::vector<std::string>{});
  CHECK(r.status.ok());
  CHECK(r.rows.empty());
}

inline void check_fetch_many(Database& db) {
  // 1,502 ids: more than one statement (chunks of 500); 0 and 1501 are absent.
  std::vector<std::string> ids;
  for (int i = 1501; i >= 0; --i) ids.push_back(std::to_string(i));
  const FetchResult r = db.fetch(Source{"numbers", "n", {"sq"}, ""}, ids);
  REQUIRE(r.status.ok());
  REQUIRE(r.rows.size() == ids.size());
  std::size_t found = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const long long n = std::stoll(ids[i]);
    if (n == 0 || n == 1501) {
      CHECK_FALSE(r.rows[i].has_value());
      continue;
    }
    REQUIRE(r.rows[i].has_value());
    if (value_of(r.rows[i], "sq") == std::to_string(n * n)) ++found;
  }
  CHECK(found == 1500);
}

inline void check_identifiers_and_injection(Database& db) {
  // Identifiers with spaces and quotes are quoted, not spliced.
  FetchResult r =
      db.fetch(Source{"odd \"table\"", "key col", {"val"}, ""}, std::vector<std::string>{"a", "b"});
  REQUIRE(r.status.ok());
  CHECK(value_of(r.rows[0], "val") == "x");
  CHECK_FALSE(r.rows[1].has_value());

  // Ids are parameters: SQL in an id is just an id that is not there.
  const std::vector<std::string> evil = {"1 OR 1=1", "1); DROP TABLE products; --", "'", "1"};
  r = db.fetch(products(), evil);
  REQUIRE(r.status.ok());
  CHECK_FALSE(r.rows[0].has_value());
  CHECK_FALSE(r.rows[1].has_value());
  CHECK_FALSE(r.rows[2].has_value());
  CHECK(value_of(r.rows[3], "name") == "apple");
  r = db.fetch(products(), std::vector<std::string>{"3"});
  REQUIRE(r.status.ok());
  CHECK(value_of(r.rows[0], "name") == "fig");
}

inline void check_fetch_query(Database& db, const std::string& p1) {
  Source q{"", "", {}, "SELECT name, price FROM products WHERE id = " + p1};
  FetchResult r = db.fetch(q, std::vector<std::string>{"3", "42", "2"});
  REQUIRE(r.status.ok());
  REQUIRE(r.rows.size() == 3);
  CHECK(value_of(r.rows[0], "name") == "fig");
  CHECK(value_of(r.rows[0], "price") == "<null>");
  CHECK_FALSE(r.rows[1].has_value());
  CHECK(value_of(r.rows[2], "price") == "2.00");
  CHECK(r.rows[2]->columns == std::vector<std::string>{"name", "price"});

  // More than one row: the first is taken.
  q.query = "SELECT name FROM products WHERE id >= " + p1 + " ORDER BY id";
  r = db.fetch(q, std::vector<std::string>{"2"});
  REQUIRE(r.status.ok());
  CHECK(value_of(r.rows[0], "name") == "pear");
}

inline void check_fetch_ids(Database& db) {
  IdsResult r = db.fetch_ids("SELECT id FROM products ORDER BY id DESC");
  REQUIRE(r.status.ok());
  CHECK(r.ids == std::vector<std::string>{"3", "2", "1"});
  r = db.fetch_ids("SELECT nosuch FROM products");
  CHECK(r.status.kind == ErrorKind::kRejected);
  CHECK(r.ids.empty());
}

inline void check_validate(Database& db, const std::string& p1) {
  CHECK(db.validate(products()).ok());
  CHECK(db.validate(products({})).ok());
  CHECK(db.validate(Source{"odd \"table\"", "key col", {"val"}, ""}).ok());
  CHECK(db.validate(Source{"", "", {}, "SELECT name FROM products WHERE id = " + p1}).ok());

  Status s = db.validate(Source{"nosuch_table", "id", {"name"}, ""});
  CHECK(s.kind == ErrorKind::kRejected);
  CHECK_THAT(s.message, Catch::Contains("nosuch_table"));

  s = db.validate(products({"name", "nosuch_column"}));
  CHECK(s.kind == ErrorKind::kRejected);
  CHECK_THAT(s.message, Catch::Contains("nosuch_column"));

  s = db.validate(Source{"products", "nosuch_key", {"name"}, ""});
  CHECK(s.kind == ErrorKind::kRejected);
  CHECK_THAT(s.message, Catch::Contains("nosuch_key"));

  s = db.validate(Source{"", "", {}, "SELEC name FROM products WHERE id = " + p1});
  CHECK(s.kind == ErrorKind::kRejected);
  CHECK_THAT(s.message, Catch::Contains("SELEC"));

  s = db.validate(Source{"", "", {}, "SELECT name FROM products"});  // no parameter
  CHECK(s.kind == ErrorKind::kRejected);
  CHECK_THAT(s.message, Catch::Contains("parameter"));

  s = db.validate(Source{"", "id", {}, ""});  // no table, no query
  CHECK(s.kind == ErrorKind::kRejected);
}

inline void check_write(Database& db) {
  const Source kv{"kv", "k", {"v", "n"}, ""};
  const std::vector<Upsert> first = {
      {"a", {{"v", "1"}, {"n", "5"}}},
      {"b", {{"v", std::nullopt}}},
      {"a", {{"v", "2"}}},  // later upserts of a key win; n is kept
      {"c", {{"v", "3"}}},
  };
  REQUIRE(db.write("kv", "k", first, std::vector<std::string>{"c", "nope"}).ok());
  FetchResult r = db.fetch(kv, std::vector<std::string>{"a", "b", "c"});
  REQUIRE(r.status.ok());
  CHECK(value_of(r.rows[0], "v") == "2");
  CHECK(value_of(r.rows[0], "n") == "5");
  REQUIRE(r.rows[1].has_value());
  CHECK(value_of(r.rows[1], "v") == "<null>");
  CHECK_FALSE(r.rows[2].has_value());  // deleted after its upsert

  // All or nothing: a bad column rejects the whole write.
  const std::vector<Upsert> bad = {{"d", {{"v", "4"}}}, {"e", {{"nosuch", "5"}}}};
  const Status s = db.write("kv", "k", bad, std::vector<std::string>{"a"});
  CHECK(s.kind == ErrorKind::kRejected);
  CHECK_THAT(s.message, Catch::Contains("nosuch"));
  r = db.fetch(kv, std::vector<std::string>{"a", "d"});
  REQUIRE(r.status.ok());
  CHECK(value_of(r.rows[0], "v") == "2");
  CHECK_FALSE(r.rows[1].has_value());

  // An upsert of the key alone inserts or keeps the row.
  REQUIRE(db.write("kv", "k", std::vector<Upsert>{{"f", {}}, {"a", {}}}, {}).ok());
  r = db.fetch(kv, std::vector<std::string>{"f", "a"});
  REQUIRE(r.status.ok());
  CHECK(r.rows[0].has_value());
  CHECK(value_of(r.rows[1], "v") == "2");

  // A partial write of an existing row (HSET of one field) updates that column and leaves the
  // NOT NULL ones alone; the same partial write of a new row is refused by the constraint.
  const Source products{"products", "id", {"name", "price"}, ""};
  REQUIRE(db.write("products", "id", std::vector<Upsert>{{"2", {{"price", "2.50"}}}}, {}).ok());
  r = db.fetch(products, std::vector<std::string>{"2"});
  REQUIRE(r.status.ok());
  CHECK(value_of(r.rows[0], "name") == "pear");
  CHECK(value_of(r.rows[0], "price") == "2.50");
  CHECK(db.write("products", "id", std::vector<Upsert>{{"99", {{"price", "1"}}}}, {}).kind ==
        ErrorKind::kRejected);
  REQUIRE(db.write("products", "id", std::vector<Upsert>{{"2", {{"price", "2.00"}}}}, {}).ok());

  // Clean up for the next run on the same database.
  REQUIRE(db.write("kv", "k", {}, std::vector<std::string>{"a", "b", "f"}).ok());
}

// INCRBY semantics: a missing row or NULL is 0, a new row is inserted, a non-integer or an
// overflow is refused and changes nothing.
inline void check_increment(Database& db) {
  const Source kv{"kv", "k", {"v", "n"}, ""};
  REQUIRE(db.write("kv", "k",
                   std::vector<Upsert>{{"i1", {{"v", "x"}, {"n", "40"}}}, {"i2", {{"v", "12"}}}},
                   {})
              .ok());
  IncrementResult r = db.increment("kv", "k", "i1", "n", 2);
  REQUIRE(r.status.ok());
  CHECK(r.value == 42);
  r = db.increment("kv", "k", "i2", "n", -5);  // NULL counts as 0
  REQUIRE(r.status.ok());
  CHECK(r.value == -5);
  r = db.increment("kv", "k", "i2", "v", 1);  // a text column holding an integer
  REQUIRE(r.status.ok());
  CHECK(r.value == 13);
  r = db.increment("kv", "k", "i3", "n", 7);  // no row: inserted
  REQUIRE(r.status.ok());
  CHECK(r.value == 7);
  FetchResult f = db.fetch(kv, std::vector<std::string>{"i1", "i2", "i3"});
  REQUIRE(f.status.ok());
  CHECK(value_of(f.rows[0], "n") == "42");
  CHECK(value_of(f.rows[0], "v") == "x");
  CHECK(value_of(f.rows[1], "n") == "-5");
  CHECK(value_of(f.rows[1], "v") == "13");
  CHECK(value_of(f.rows[2], "n") == "7");

  r = db.increment("kv", "k", "i1", "v", 1);  // "x"
  CHECK(r.status.kind == ErrorKind::kRejected);
  CHECK_THAT(r.status.message, Catch::Contains("not an integer"));
  REQUIRE(
      db.write("kv", "k", std::vector<Upsert>{{"i2", {{"v", "9223372036854775807"}}}}, {}).ok());
  r = db.increment("kv", "k", "i2", "v", 1);
  CHECK(r.status.kind == ErrorKind::kRejected);
  CHECK_THAT(r.status.message, Catch::Contains("overflow"));
  CHECK(db.increment("kv", "k", "i1", "nosuch", 1).status.kind == ErrorKind::kRejected);
  // Nothing of the refused increments stayed, and the connection is usable.
  f = db.fetch(kv, std::vector<std::string>{"i1"});
  REQUIRE(f.status.ok());
  CHECK(value_of(f.rows[0], "v") == "x");
  CHECK(value_of(f.rows[0], "n") == "42");
  REQUIRE(db.write("kv", "k", {}, std::vector<std::string>{"i1", "i2", "i3"}).ok());
}

// Increments from several connections at once, on an existing row and on one that none of
// them finds at first: every one counts.
inline void check_concurrent_increments(const std::function<std::unique_ptr<Database>()>& make) {
  constexpr int kThreads = 4;
  constexpr int kEach = 50;
  auto db = make();
  REQUIRE(db->write("kv", "k", std::vector<Upsert>{{"c1", {{"n", "0"}}}},
                    std::vector<std::string>{"c2"})
              .ok());
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto mine = make();
      for (int i = 0; i < kEach; ++i) {
        if (!mine->increment("kv", "k", "c1", "n", 1).status.ok()) ++failed;
        if (!mine->increment("kv", "k", "c2", "n", 2).status.ok()) ++failed;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failed == 0);
  const FetchResult f =
      db->fetch(Source{"kv", "k", {"n"}, ""}, std::vector<std::string>{"c1", "c2"});
  REQUIRE(f.status.ok());
  CHECK(value_of(f.rows[0], "n") == std::to_string(kThreads * kEach));
  CHECK(value_of(f.rows[1], "n") == std::to_string(2 * kThreads * kEach));
  REQUIRE(db->write("kv", "k", {}, std::vector<std::string>{"c1", "c2"}).ok());
}

inline void check_contract(Database& db, const std::string& p1) {
  SECTION("table source: batch fetch, missing ids, NULLs") { check_fetch_table(db); }
  SECTION("table source: more ids than one statement takes") { check_fetch_many(db); }
  SECTION("identifiers are quoted, ids are parameters") { check_identifiers_and_injection(db); }
  SECTION("query source") { check_fetch_query(db, p1); }
  SECTION("fetch_ids") { check_fetch_ids(db); }
  SECTION("validate") { check_validate(db, p1); }
  SECTION("write: upserts then deletes, in order, in one transaction") { check_write(db); }
  SECTION("increment: INCRBY on a column, under a row lock") { check_increment(db); }
}

}  // namespace sidecache::db::test
