// The `hotkeys:` section: defaults, every key, and its checks.
#include <catch2/catch.hpp>
#include <string>

#include "config/config.hpp"
#include "error_of.hpp"

namespace sidecache::config {
namespace {

using namespace std::chrono_literals;

const std::string kNodes = "pool:\n  nodes: [127.0.0.1:7001:1]\n";

using testing::error_of;

TEST_CASE("hotkeys defaults: off, 256 counters, 1 in 8 sampled, no per-key metrics",
          "[config][hotkeys]") {
  const auto config = load_string(kNodes, "t.yaml");
  CHECK_FALSE(config.hotkeys.enabled);
  CHECK(config.hotkeys.capacity == 256);
  CHECK(config.hotkeys.half_life == 10s);
  CHECK(config.hotkeys.sample == 8);
  CHECK(config.hotkeys.metrics_top_n == 0);
  CHECK_FALSE(config.hotkeys.expose_names);
  CHECK(config.hotkeys.refresh_top == 0);
  CHECK(config.hotkeys.refresh_ahead == 0.2);
}

TEST_CASE("every hotkeys key is read", "[config][hotkeys]") {
  const auto config = load_string(kNodes + R"(
hotkeys:
  enabled: true
  capacity: 1024
  half_life: 1m
  sample: 1
  metrics_top_n: 20
  expose_names: true
  refresh_top: 8
  refresh_ahead: 0.3
)",
                                  "t.yaml");
  CHECK(config.hotkeys.enabled);
  CHECK(config.hotkeys.capacity == 1024);
  CHECK(config.hotkeys.half_life == 60s);
  CHECK(config.hotkeys.sample == 1);
  CHECK(config.hotkeys.metrics_top_n == 20);
  CHECK(config.hotkeys.expose_names);
  CHECK(config.hotkeys.refresh_top == 8);
  CHECK(config.hotkeys.refresh_ahead == 0.3);
}

TEST_CASE("hotkeys values out of range name the file and line", "[config][hotkeys]") {
  CHECK_THAT(error_of(kNodes + "hotkeys:\n  capacity: 4\n"),
             Catch::StartsWith("t.yaml:4:13: hotkeys.capacity"));
  CHECK_THAT(error_of(kNodes + "hotkeys:\n  half_life: 10ms\n"),
             Catch::StartsWith("t.yaml:4:14: hotkeys.half_life"));
  CHECK_THAT(error_of(kNodes + "hotkeys:\n  sample: 0\n"),
             Catch::StartsWith("t.yaml:4:11: hotkeys.sample"));
  CHECK_THAT(error_of(kNodes + "hotkeys:\n  metrics_top_n: 101\n"),
             Catch::StartsWith("t.yaml:4:18: hotkeys.metrics_top_n"));
  CHECK_THAT(error_of(kNodes + "hotkeys:\n  expose_names: maybe\n"),
             Catch::StartsWith("t.yaml:4:17: hotkeys.expose_names"));
  CHECK_THAT(error_of(kNodes + "hotkeys:\n  capcity: 10\n"),
             Catch::StartsWith("t.yaml:4:3:") && Catch::Contains("capacity"));
  CHECK_THAT(error_of(kNodes + "hotkeys:\n  capacity: 16\n  metrics_top_n: 20\n"),
             Catch::StartsWith("t.yaml:4:3: hotkeys: metrics_top_n (20)") &&
                 Catch::Contains("must not exceed capacity"));
  CHECK_THAT(error_of(kNodes + "hotkeys:\n  enabled: true\n  refresh_ahead: 0.95\n"),
             Catch::StartsWith("t.yaml:5:18: hotkeys.refresh_ahead"));
  CHECK_THAT(error_of(kNodes + "hotkeys:\n  refresh_top: 4\n"),
             Catch::StartsWith("t.yaml:4:3: hotkeys: refresh_top needs hot-key detection"));
  CHECK_THAT(error_of(kNodes + "hotkeys:\n  enabled: true\n  capacity: 8\n  refresh_top: 9\n"),
             Catch::StartsWith("t.yaml:4:3: hotkeys: refresh_top (9) must not exceed capacity"));
}

}  // namespace
}  // namespace sidecache::config
