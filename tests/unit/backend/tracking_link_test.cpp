// The tracking connection's Asio-free parts: the registration command and push parsing.
#include <catch2/catch.hpp>

#include "backend/tracking_link.hpp"

namespace sidecache::backend {

TEST_CASE("tracking: the CLIENT TRACKING command", "[near]") {
  using V = std::vector<std::string>;
  CHECK(tracking_command({"user:", "cfg:"}) ==
        V{"CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:", "PREFIX", "cfg:"});
  CHECK(tracking_command({""}) == V{"CLIENT", "TRACKING", "on", "BCAST"});
}

TEST_CASE("tracking: the lag marker's TTL outlives the probe interval", "[near]") {
  using std::chrono::milliseconds;
  CHECK(marker_ttl(milliseconds(200)) == milliseconds(1000));
  CHECK(marker_ttl(milliseconds(1000)) == milliseconds(3000));
  CHECK(marker_ttl(milliseconds(60000)) == milliseconds(180000));
}

TEST_CASE("tracking: invalidation pushes", "[near]") {
  auto keys = parse_invalidation(">2\r\n$10\r\ninvalidate\r\n*2\r\n$3\r\nk:1\r\n$0\r\n\r\n");
  REQUIRE(keys);
  CHECK_FALSE(keys->flush);
  CHECK(keys->keys == std::vector<std::string>{"k:1", ""});
  auto flush = parse_invalidation(">2\r\n$10\r\ninvalidate\r\n_\r\n");
  REQUIRE(flush);
  CHECK(flush->flush);
  // Not invalidations: a reply, another push.
  CHECK_FALSE(parse_invalidation("+PONG\r\n"));
  CHECK_FALSE(parse_invalidation("*2\r\n$10\r\ninvalidate\r\n_\r\n"));
  CHECK_FALSE(parse_invalidation(">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nx\r\n"));
}

}  // namespace sidecache::backend
