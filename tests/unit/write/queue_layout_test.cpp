// The write-behind queue's names in Redis.
#include <catch2/catch.hpp>
#include <string>

#include "write/queue_layout.hpp"

namespace sidecache::write {
namespace {

TEST_CASE("queue names land on their node and are stable", "[write][queue]") {
  // A fake routing: the node is the sum of the bytes modulo 3.
  auto route = [](std::string_view key) {
    std::uint32_t sum = 0;
    for (const unsigned char c : key) sum += c;
    return sum % 3;
  };
  const auto names = queue_names(3, route);
  REQUIRE(names.size() == 3);
  for (std::uint32_t n = 0; n < 3; ++n) {
    CHECK(route(names[n].stream) == n);
    CHECK(route(names[n].pending) == n);
    CHECK(route(names[n].lease) == n);
    CHECK(names[n].stream.starts_with("sidecache:wb:{"));
  }
  CHECK(queue_names(3, route)[1].stream == names[1].stream);
}

}  // namespace
}  // namespace sidecache::write
