#include <catch2/catch.hpp>

#include "write/behind_store.hpp"

using namespace sidecache::write;

TEST_CASE("guarded store: the request names the pending hash only when known") {
  Value v;
  v.text = "x";
  const std::string with = guarded_store_request("k", "sidecache:wbp:{0}", true, &v, 500);
  CHECK(with.find("$1\r\n3\r\n$1\r\nk\r\n$15\r\nsidecache:gen:k\r\n$17\r\nsidecache:wbp:{0}"
                  "\r\n$3\r\n500\r\n$4\r\nmiss\r\n$0\r\n\r\n$1\r\ns\r\n$1\r\nx\r\n") !=
        std::string::npos);
  const std::string without = guarded_store_request("k", "", false, nullptr, 500, "17");
  CHECK(without.find("$1\r\n2\r\n$1\r\nk\r\n$15\r\nsidecache:gen:k\r\n$3\r\n500\r\n$7\r\n"
                     "refresh\r\n$2\r\n17\r\n$1\r\na\r\n") != std::string::npos);
}

TEST_CASE("guarded store: outcomes") {
  auto stored = guard_outcome("*1\r\n:1\r\n", false);
  REQUIRE(stored);
  CHECK(stored->stored);

  auto absent = guard_outcome("*1\r\n:0\r\n", false);
  REQUIRE(absent);
  CHECK_FALSE(absent->stored);
  CHECK_FALSE(absent->kept);

  auto raced = guard_outcome("*1\r\n:2\r\n", false);
  REQUIRE(raced);
  CHECK(raced->superseded);
  CHECK(raced->loaded);
  CHECK_FALSE(raced->stored);
  CHECK_FALSE(raced->kept);

  auto raced_kept = guard_outcome("*2\r\n:3\r\n$3\r\nnew\r\n", false);
  REQUIRE(raced_kept);
  CHECK(raced_kept->superseded);
  CHECK_FALSE(raced_kept->loaded);
  REQUIRE(raced_kept->kept);
  CHECK(raced_kept->kept->text == "new");

  auto text = guard_outcome("*2\r\n:0\r\n$3\r\nnew\r\n", false);
  REQUIRE(text);
  REQUIRE(text->kept);
  CHECK(text->kept->text == "new");

  auto null_bulk = guard_outcome("*2\r\n:0\r\n$-1\r\n", false);
  REQUIRE(null_bulk);
  CHECK_FALSE(null_bulk->kept);

  auto hash = guard_outcome("*2\r\n:0\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n", true);
  REQUIRE(hash);
  REQUIRE(hash->kept);
  CHECK(hash->kept->is_hash);
  CHECK(hash->kept->fields.size() == 2);

  auto empty_hash = guard_outcome("*2\r\n:0\r\n*0\r\n", true);
  REQUIRE(empty_hash);
  CHECK_FALSE(empty_hash->kept);

  CHECK_FALSE(guard_outcome("-ERR boom\r\n", false));
  CHECK_FALSE(guard_outcome("*2\r\n:0\r\n*1\r\n$1\r\na\r\n", true));  // odd field list
  CHECK_FALSE(guard_outcome("+OK\r\n", false));
}
