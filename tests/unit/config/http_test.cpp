// The `http:` section: off when absent, defaults, every key, and its checks.
#include <catch2/catch.hpp>
#include <string>

#include "config/config.hpp"
#include "error_of.hpp"

namespace sidecache::config {
namespace {

using namespace std::chrono_literals;

const std::string kNodes = "pool:\n  nodes: [127.0.0.1:7001:1, 127.0.0.1:7002:1]\n";

using testing::error_of;

TEST_CASE("http is off when absent", "[config][http]") {
  CHECK_FALSE(load_string(kNodes, "t.yaml").http.has_value());
}

TEST_CASE("http: {} turns it on with the defaults", "[config][http]") {
  const auto config = load_string(kNodes + "http: {}\n", "t.yaml");
  REQUIRE(config.http.has_value());
  CHECK(config.http->listen.host == "127.0.0.1");
  CHECK(config.http->listen.port == 9121);
  CHECK(config.http->ready_min_nodes_up == 1);
  CHECK(config.http->max_connections == 64);
  CHECK(config.http->idle_timeout == 2s);
  CHECK(config.http->request_timeout == 5s);
}

TEST_CASE("every http key is read", "[config][http]") {
  const auto config = load_string(kNodes + R"(
http:
  listen: "[::1]:9200"
  ready_min_nodes_up: 2
  max_connections: 8
  idle_timeout: 100ms
  request_timeout: 250ms
)",
                                  "t.yaml");
  REQUIRE(config.http.has_value());
  CHECK(config.http->listen.host == "::1");
  CHECK(config.http->listen.port == 9200);
  CHECK(config.http->ready_min_nodes_up == 2);
  CHECK(config.http->max_connections == 8);
  CHECK(config.http->idle_timeout == 100ms);
  CHECK(config.http->request_timeout == 250ms);
  // 0 nodes needed: ready as soon as sidecache listens.
  CHECK(
      load_string(kNodes + "http: {ready_min_nodes_up: 0}\n", "t.yaml").http->ready_min_nodes_up ==
      0);
}

TEST_CASE("the samples spell out the http defaults", "[config][http][samples]") {
  const HttpConfig defaults;
  for (const char* sample : {"/config/sidecache.yaml", "/config/twemproxy-migration.yaml"}) {
    INFO(sample);
    const auto config = load_file(std::string(SIDECACHE_SOURCE_DIR) + sample);
    REQUIRE(config.http.has_value());
    CHECK(config.http->listen.host == defaults.listen.host);
    CHECK(config.http->listen.port == defaults.listen.port);
    CHECK(config.http->ready_min_nodes_up == defaults.ready_min_nodes_up);
    CHECK(config.http->max_connections == defaults.max_connections);
    CHECK(config.http->idle_timeout == defaults.idle_timeout);
    CHECK(config.http->request_timeout == defaults.request_timeout);
  }
}

TEST_CASE("http errors", "[config][http]") {
  CHECK(error_of(kNodes + "http:\n  lisen: 127.0.0.1:9121\n") ==
        "t.yaml:4:3: unknown key 'http.lisen' (did you mean 'listen'?)");
  CHECK(error_of(kNodes + "http:\n") ==
        "t.yaml:3:1: http: expected a map of keys, got nothing (missing value)");
  CHECK(error_of(kNodes + "http: {max_connections: 0}\n") ==
        "t.yaml:3:25: http.max_connections: 0 is out of range (1..4096)");
  CHECK(error_of(kNodes + "http: {request_timeout: 0}\n") ==
        "t.yaml:3:25: http.request_timeout: 0 is out of range (1ms..10m)");
  CHECK(error_of(kNodes + "http: {idle_timeout: 0}\n") ==
        "t.yaml:3:22: http.idle_timeout: 0 is out of range (1ms..10m)");
  CHECK(error_of(kNodes + "http: {listen: 127.0.0.1}\n") ==
        "t.yaml:3:16: http.listen: missing port in '127.0.0.1': expected host:port or [v6]:port");
}

TEST_CASE("http checks across keys", "[config][http]") {
  CHECK(error_of("listen: 127.0.0.1:6380\n" + kNodes + "http:\n  listen: localhost:6380\n") ==
        "t.yaml:5:11: http.listen: localhost:6380 is also the RESP listen address "
        "(listen: 127.0.0.1:6380)");
  CHECK(error_of("listen: 0.0.0.0:6380\n" + kNodes + "http: {listen: 127.0.0.1:6380}\n") ==
        "t.yaml:4:16: http.listen: 127.0.0.1:6380 is also the RESP listen address "
        "(listen: 0.0.0.0:6380)");
  CHECK(error_of(kNodes + "http: {listen: 127.0.0.1:7002}\n") ==
        "t.yaml:3:16: http.listen: 127.0.0.1:7002 is the address of pool.nodes[1]");
  CHECK(error_of(kNodes + "http: {ready_min_nodes_up: 3}\n") ==
        "t.yaml:3:28: http.ready_min_nodes_up: 3 exceeds the number of nodes (2)");
  // With http.listen left out, the default address is checked, reported at the section.
  CHECK(error_of("listen: 127.0.0.1:9121\n" + kNodes + "http: {}\n") ==
        "t.yaml:4:7: http.listen: 127.0.0.1:9121 is also the RESP listen address "
        "(listen: 127.0.0.1:9121)");
}

TEST_CASE("the digest identifies the file's bytes", "[config][http]") {
  const auto a = load_string(kNodes, "t.yaml");
  const auto b = load_string(kNodes + "# a comment\n", "t.yaml");
  CHECK(a.digest == "b9bde6398302b201");  // FNV-1a 64 of kNodes (checked with Python)
  CHECK(a.digest == load_string(kNodes, "other.yaml").digest);
  CHECK(a.digest != b.digest);
}

}  // namespace
}  // namespace sidecache::config
