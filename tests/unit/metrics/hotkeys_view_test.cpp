// /debug/hotkeys and the hot-key metrics from a board with known snapshots.
#include <catch2/catch.hpp>

#include <string>

#include "fixture.hpp"
#include "hotkeys/board.hpp"
#include "hotkeys/key_hash.hpp"
#include "metrics/collector.hpp"
#include "metrics/hotkeys_view.hpp"
#include "metrics/probes.hpp"

namespace sidecache::metrics {
namespace {

using test::FakeProcess;

void publish(ProcessStats& process, std::size_t worker, const std::string& key,
             std::uint64_t count) {
  hotkeys::Snapshot s;
  s.window_seconds = 2;
  s.entries.push_back({hotkeys::key_hash(key), key.substr(0, 128),
                       static_cast<std::uint32_t>(key.size()), count, 1});
  process.hotkeys->publish(worker, s);
}

}  // namespace

TEST_CASE("keys are JSON strings, one character per byte", "[metrics][hotkeys]") {
  std::string out;
  append_key_json(out, std::string("a\"b\\c\0\xff\n\x7f", 9));
  CHECK(out == R"("a\"b\\c\u0000\u00ff\u000a\u007f")");
  CHECK(key_label(std::string("k\xe9\n y", 5)) == "k\\xe9\\x0a y");
}

TEST_CASE("/debug/hotkeys: the merged top keys, count and bad queries", "[metrics][hotkeys]") {
  FakeProcess fake(2, "hotkeys:\n  enabled: true\n");
  fake.process.hotkeys = std::make_shared<hotkeys::Board>(2);
  publish(fake.process, 0, "cold", 10);
  publish(fake.process, 1, "hot", 100);
  const Probes probes(fake.process, 0);

  auto reply = probes.respond("GET", "/debug/hotkeys");
  CHECK(reply.status == 200);
  CHECK(reply.content_type == "application/json");
  CHECK(reply.body ==
        "{\"enabled\": true, \"keys\": [\n"
        "  {\"key\": \"hot\", \"key_length\": 3, \"hash\": \"a9b6001cf6a6d611\", \"rate\": 50.00, "
        "\"count\": 100, \"error\": 1},\n"
        "  {\"key\": \"cold\", \"key_length\": 4, \"hash\": \"" +
            hotkeys::hash_hex(hotkeys::key_hash("cold")) +
            "\", \"rate\": 5.00, \"count\": 10, \"error\": 1}\n]}\n");
  reply = probes.respond("GET", "/debug/hotkeys?count=1");
  CHECK(reply.status == 200);
  CHECK(reply.body.find("cold") == std::string::npos);
  CHECK(probes.respond("GET", "/debug/hotkeys?count=0").status == 400);
  CHECK(probes.respond("GET", "/debug/hotkeys?count=x").status == 400);
  CHECK(probes.respond("GET", "/debug/hotkeys?count=10001").status == 400);
  CHECK(probes.respond("GET", "/debug/hotkeys?top=3").status == 400);
  CHECK(probes.respond("POST", "/debug/hotkeys").status == 405);
}

TEST_CASE("/debug/hotkeys when detection is off (the default)", "[metrics][hotkeys]") {
  FakeProcess fake(1);
  fake.process.hotkeys = std::make_shared<hotkeys::Board>(1);
  const Probes probes(fake.process, 0);
  const auto reply = probes.respond("GET", "/debug/hotkeys");
  CHECK(reply.status == 200);
  CHECK(reply.body == "{\"enabled\": false, \"keys\": []}\n");
}

TEST_CASE("hot-key metrics: sketch size always, per-key gauges only when asked",
          "[metrics][hotkeys]") {
  const auto scrape = [](FakeProcess& fake) {
    return serialize(Collector(fake.process).Collect());
  };
  FakeProcess plain(2);
  plain.process.hotkeys = std::make_shared<hotkeys::Board>(2);
  publish(plain.process, 0, "hot", 100);
  auto text = scrape(plain);
  CHECK(text.find("sidecache_hotkeys_sketch_entries 1\n") != std::string::npos);
  CHECK(text.find("sidecache_hotkey_requests_per_second") == std::string::npos);

  FakeProcess hashed(1, "hotkeys:\n  enabled: true\n  metrics_top_n: 2\n");
  hashed.process.hotkeys = std::make_shared<hotkeys::Board>(1);
  publish(hashed.process, 0, "hot", 100);
  text = scrape(hashed);
  CHECK(text.find("sidecache_hotkey_requests_per_second{key=\"a9b6001cf6a6d611\"} 50\n") !=
        std::string::npos);
  CHECK(text.find("sidecache_hotkey_requests_error{key=\"a9b6001cf6a6d611\"} 1\n") !=
        std::string::npos);

  FakeProcess named(1, "hotkeys:\n  enabled: true\n  metrics_top_n: 2\n  expose_names: true\n");
  named.process.hotkeys = std::make_shared<hotkeys::Board>(1);
  publish(named.process, 0, "user:\"1\"", 100);
  text = scrape(named);
  CHECK(text.find(R"(sidecache_hotkey_requests_per_second{key="user:\"1\""} 50)") !=
        std::string::npos);
}

}  // namespace sidecache::metrics
