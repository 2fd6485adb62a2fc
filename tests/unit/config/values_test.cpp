// Scalar syntaxes: durations, sizes and endpoints, including overflow.
#include <catch2/catch.hpp>
#include <limits>

#include "config/config.hpp"

namespace sidecache::config {
namespace {

using namespace std::chrono_literals;

TEST_CASE("durations take ms, s, m or a bare integer of milliseconds", "[config][values]") {
  CHECK(parse_duration("500ms") == 500ms);
  CHECK(parse_duration("2s") == 2000ms);
  CHECK(parse_duration("1m") == 60000ms);
  CHECK(parse_duration("400") == 400ms);
  CHECK(parse_duration("0") == 0ms);
  CHECK(parse_duration("3S") == 3000ms);
  CHECK(parse_duration("7MS") == 7ms);
}

TEST_CASE("durations reject other forms", "[config][values]") {
  for (const char* text :
       {"", "ms", "1w", "1.5s", "-1s", "+1s", " 1s", "1 s", "1s ", "1sec", "0x10", "1e3"}) {
    INFO(text);
    CHECK_THROWS_AS(parse_duration(text), std::invalid_argument);
  }
  CHECK_THROWS_WITH(parse_duration("1w"),
                    "invalid duration '1w': expected an integer with unit ms, s, m, h or d (e.g. "
                    "500ms, 2s, 1m, 24h), or an integer of milliseconds");
  CHECK(parse_duration("2h") == std::chrono::hours(2));
  CHECK(parse_duration("1d") == std::chrono::hours(24));
}

TEST_CASE("durations are overflow-checked", "[config][values]") {
  CHECK(parse_duration("9223372036854775807").count() == std::numeric_limits<std::int64_t>::max());
  CHECK_THROWS_WITH(parse_duration("9223372036854775808"),
                    "duration '9223372036854775808' is too large");
  CHECK_THROWS_WITH(parse_duration("99999999999999999999999ms"),
                    "duration '99999999999999999999999ms' is too large");
  CHECK_THROWS_WITH(parse_duration("153722867280913m"), "duration '153722867280913m' is too large");
  CHECK(parse_duration("153722867280912m").count() == 153722867280912LL * 60000);
}

TEST_CASE("sizes take b, kb, mb, gb (1024-based, any case) or bytes", "[config][values]") {
  CHECK(parse_size("0") == 0);
  CHECK(parse_size("100") == 100);
  CHECK(parse_size("100b") == 100);
  CHECK(parse_size("64kb") == 64 * 1024);
  CHECK(parse_size("64KB") == 64 * 1024);
  CHECK(parse_size("512mb") == 512ull << 20);
  CHECK(parse_size("512Mb") == 512ull << 20);
  CHECK(parse_size("1gb") == 1ull << 30);
  CHECK(parse_size("18446744073709551615") == std::numeric_limits<std::uint64_t>::max());
}

TEST_CASE("sizes reject other forms and overflow", "[config][values]") {
  for (const char* text : {"", "kb", "1k", "1m", "1g", "1tb", "1.5mb", "-1", "1 mb", "mb1"}) {
    INFO(text);
    CHECK_THROWS_AS(parse_size(text), std::invalid_argument);
  }
  CHECK_THROWS_WITH(parse_size("18446744073709551616"), "size '18446744073709551616' is too large");
  CHECK_THROWS_WITH(parse_size("17179869184gb"), "size '17179869184gb' is too large");
  CHECK(parse_size("17179869183gb") == 17179869183ull << 30);
  CHECK_THROWS_WITH(parse_size("12xb"),
                    "invalid size '12xb': expected an integer of bytes, or with unit b, kb, mb or "
                    "gb (1024-based, e.g. 64kb, 512mb)");
}

TEST_CASE("endpoints are host:port or [v6]:port", "[config][values]") {
  auto e = parse_endpoint("127.0.0.1:6380");
  CHECK(e.host == "127.0.0.1");
  CHECK(e.port == 6380);
  e = parse_endpoint("[::1]:7001");
  CHECK(e.host == "::1");
  CHECK(e.port == 7001);
  e = parse_endpoint("[fe80::1%eth0]:1");
  CHECK(e.host == "fe80::1%eth0");
  e = parse_endpoint("cache-1.example.com:65535");
  CHECK(e.host == "cache-1.example.com");
  CHECK(e.port == 65535);
  CHECK(format_endpoint(parse_endpoint("[::1]:7001")) == "[::1]:7001");
  CHECK(format_endpoint(parse_endpoint("localhost:7001")) == "localhost:7001");
}

TEST_CASE("endpoints are checked", "[config][values]") {
  CHECK_THROWS_WITH(parse_endpoint(""), "empty address: expected host:port or [v6]:port");
  CHECK_THROWS_WITH(parse_endpoint("127.0.0.1"),
                    "missing port in '127.0.0.1': expected host:port or [v6]:port");
  CHECK_THROWS_WITH(parse_endpoint(":6379"), "missing host");
  CHECK_THROWS_WITH(parse_endpoint("host:"), "missing port");
  CHECK_THROWS_WITH(parse_endpoint("host:0"), "port 0 is out of range (1..65535)");
  CHECK_THROWS_WITH(parse_endpoint("host:65536"), "port 65536 is out of range (1..65535)");
  CHECK_THROWS_WITH(parse_endpoint("host:99999999999999999999999"),
                    "port 99999999999999999999999 is out of range (1..65535)");
  CHECK_THROWS_WITH(parse_endpoint("host:-1"), "invalid port '-1'");
  CHECK_THROWS_WITH(parse_endpoint("host:12ab"), "invalid port '12ab'");
  CHECK_THROWS_WITH(parse_endpoint("::1:6379"), "IPv6 addresses need brackets, e.g. [::1]:6379");
  CHECK_THROWS_WITH(parse_endpoint("[::1:6379"), "missing ']' in '[::1:6379'");
  CHECK_THROWS_WITH(parse_endpoint("[::1]6379"), "expected ':port' after ']' in '[::1]6379'");
  CHECK_THROWS_WITH(parse_endpoint("[1.2.3.4]:1"), "invalid IPv6 address '1.2.3.4'");
  CHECK_THROWS_WITH(parse_endpoint("300.0.0.1:1"), "invalid IPv4 address '300.0.0.1'");
  CHECK_THROWS_WITH(parse_endpoint("my host:1"), "invalid host name 'my host'");
}

}  // namespace
}  // namespace sidecache::config
