// Writer encoders, checked byte for byte.
#include "resp/writer.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace sidecache::resp;
using namespace std::string_literals;

TEST_CASE("line replies", "[writer]") {
  std::string out = "prefix";
  append_simple(out, "OK");
  append_error(out, "ERR Protocol error: bad\r\nthing");
  append_simple(out, "");
  CHECK(out == "prefix+OK\r\n-ERR Protocol error: bad  thing\r\n+\r\n");
}

TEST_CASE("integers", "[writer]") {
  std::mt19937_64 rng(7);
  std::vector<std::int64_t> values{0,
                                   1,
                                   -1,
                                   9,
                                   10,
                                   -10,
                                   std::numeric_limits<std::int64_t>::max(),
                                   std::numeric_limits<std::int64_t>::min(),
                                   std::numeric_limits<std::int64_t>::min() + 1};
  for (int i = 0; i < 1000; ++i) values.push_back(static_cast<std::int64_t>(rng()) >> (rng() % 64));
  for (std::int64_t v : values) {
    std::string out;
    append_integer(out, v);
    CHECK(out == ":" + std::to_string(v) + "\r\n");
  }
}

TEST_CASE("bulks and headers", "[writer]") {
  std::string out;
  append_bulk(out, "foo");
  append_bulk(out, "");
  append_bulk(out, std::string("a\r\n\0b", 5));
  append_null_bulk(out);
  append_null_array(out);
  append_array_header(out, 0);
  append_array_header(out, 12345);
  append_bulk_header(out, 18446744073709551615u);
  CHECK(
      out ==
      "$3\r\nfoo\r\n$0\r\n\r\n$5\r\na\r\n\0b\r\n$-1\r\n*-1\r\n*0\r\n*12345\r\n$18446744073709551615\r\n"s);
}

TEST_CASE("append_command", "[writer]") {
  std::string out = "x";
  const std::vector<std::string_view> args{"SET", "key", std::string_view("v\0\r\n", 4), ""};
  append_command(out, args);
  CHECK(out == "x*4\r\n$3\r\nSET\r\n$3\r\nkey\r\n$4\r\nv\0\r\n\r\n$0\r\n\r\n"s);
  out.clear();
  append_command(out, {});
  CHECK(out == "*0\r\n");
  const std::string big(123456, 'b');
  out.clear();
  append_command(out, std::vector<std::string_view>{big});
  CHECK(out == "*1\r\n$123456\r\n" + big + "\r\n");
}
