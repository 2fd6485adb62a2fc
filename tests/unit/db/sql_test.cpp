#include "db/sql.hpp"

#include <catch2/catch.hpp>

using namespace sidecache::db;

TEST_CASE("identifiers are quoted part by part", "[db][sql]") {
  CHECK(sql::quote_identifier("products") == "\"products\"");
  CHECK(sql::quote_identifier("my \"t\"") == "\"my \"\"t\"\"\"");
  CHECK(sql::quote_identifier("shop.products") == "\"shop\".\"products\"");
  CHECK(sql::quote_identifier("x; DROP TABLE y") == "\"x; DROP TABLE y\"");
  CHECK(sql::quote_identifier("").empty());
  CHECK(sql::quote_identifier("a..b").empty());
  CHECK(sql::quote_identifier(".a").empty());
  CHECK(sql::quote_identifier("a.").empty());
  CHECK(sql::quote_identifier(std::string("a\0b", 3)).empty());
}

TEST_CASE("table source statements", "[db][sql]") {
  const Source s{"products", "id", {"name", "price"}, ""};
  CHECK(sql::select_by_keys(s, 3, sql::Placeholders::kDollar) ==
        "SELECT \"id\", \"name\", \"price\" FROM \"products\" WHERE \"id\" IN ($1, $2, $3)");
  CHECK(sql::select_by_keys(Source{"t", "k", {}, ""}, 1, sql::Placeholders::kQuestion) ==
        "SELECT \"k\", * FROM \"t\" WHERE \"k\" IN (?1)");
  const Upsert u{"7", {{"v", "x"}, {"n", std::nullopt}}};
  CHECK(sql::upsert("kv", "k", u, sql::Placeholders::kDollar) ==
        "INSERT INTO \"kv\" (\"k\", \"v\", \"n\") VALUES ($1, $2, $3) ON CONFLICT (\"k\") DO "
        "UPDATE SET \"v\" = excluded.\"v\", \"n\" = excluded.\"n\"");
  CHECK(sql::upsert("kv", "k", Upsert{"7", {}}, sql::Placeholders::kQuestion) ==
        "INSERT INTO \"kv\" (\"k\") VALUES (?1) ON CONFLICT (\"k\") DO NOTHING");
  CHECK(sql::delete_by_key("kv", "k", sql::Placeholders::kDollar) ==
        "DELETE FROM \"kv\" WHERE \"k\" = $1");
}

TEST_CASE("MySQL dialect: backticks, unnumbered parameters, ON DUPLICATE KEY UPDATE", "[db][sql]") {
  constexpr auto kMy = sql::Placeholders::kMysql;
  CHECK(sql::quote_identifier("products", kMy) == "`products`");
  CHECK(sql::quote_identifier("odd \"t\"", kMy) == "`odd \"t\"`");
  CHECK(sql::quote_identifier("a`b", kMy) == "`a``b`");
  CHECK(sql::quote_identifier("shop.products", kMy) == "`shop`.`products`");
  CHECK(sql::quote_identifier("x`; DROP TABLE y; --", kMy) == "`x``; DROP TABLE y; --`");
  CHECK(sql::quote_identifier("a..b", kMy).empty());
  CHECK(sql::check_source(Source{"t", "k", {"a`b"}, ""}, kMy).empty());

  const Source s{"products", "id", {"name", "price"}, ""};
  CHECK(sql::select_by_keys(s, 3, kMy) ==
        "SELECT `id`, `name`, `price` FROM `products` WHERE `id` IN (?, ?, ?)");
  CHECK(sql::select_by_keys(Source{"shop.t", "k", {}, ""}, 1, kMy) ==
        "SELECT `k`, `shop`.`t`.* FROM `shop`.`t` WHERE `k` IN (?)");
  const Upsert u{"7", {{"v", "x"}, {"n", std::nullopt}}};
  CHECK(sql::upsert("kv", "k", u, kMy) ==
        "INSERT INTO `kv` (`k`, `v`, `n`) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE `v` = "
        "VALUES(`v`), `n` = VALUES(`n`)");
  CHECK(sql::upsert("kv", "k", Upsert{"7", {}}, kMy) ==
        "INSERT INTO `kv` (`k`) VALUES (?) ON DUPLICATE KEY UPDATE `k` = `k`");
  CHECK(sql::insert_if_absent("kv", "k", u, kMy) ==
        "INSERT INTO `kv` (`k`, `v`, `n`) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE `k` = `k`");
  CHECK(sql::insert_row("kv", "k", Upsert{"7", {{"n", "1"}}}, kMy) ==
        "INSERT INTO `kv` (`k`, `n`) VALUES (?, ?)");
  // The key comes last: MySQL binds the values first, then the key.
  CHECK(sql::update_by_key("kv", "k", u, kMy) == "UPDATE `kv` SET `v` = ?, `n` = ? WHERE `k` = ?");
  CHECK(sql::select_column_by_key("kv", "k", "n", kMy, true) ==
        "SELECT `n` FROM `kv` WHERE `k` = ? FOR UPDATE");
  CHECK(sql::delete_by_key("kv", "k", kMy) == "DELETE FROM `kv` WHERE `k` = ?");
}

TEST_CASE("sources that cannot become SQL", "[db][sql]") {
  CHECK(sql::check_source(Source{"t", "k", {}, ""}).empty());
  CHECK(sql::check_source(Source{"", "", {}, "SELECT 1"}).empty());
  CHECK_FALSE(sql::check_source(Source{"", "k", {}, ""}).empty());
  CHECK_FALSE(sql::check_source(Source{"t", "", {}, ""}).empty());
  CHECK_FALSE(sql::check_source(Source{"t", "k", {"a", ""}, ""}).empty());
}

TEST_CASE("Row::get", "[db]") {
  Row row{{"a", "b"}, {std::string("1"), std::nullopt}, {}};
  REQUIRE(row.get("a") != nullptr);
  CHECK(*row.get("a") == "1");
  CHECK(row.get("b") == nullptr);
  CHECK(row.get("c") == nullptr);
  CHECK(std::string(to_string(ErrorKind::kTimeout)) == "timeout");
}
