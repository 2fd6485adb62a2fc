// The write-behind queue's names in Redis.
#include <catch2/catch.hpp>
#include <string>

#include "route/cluster_slots.hpp"
#include "write/queue_layout.hpp"
#include "write/slot_hints.hpp"

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

TEST_CASE("a cluster slot's queue names are in that slot", "[write][queue][cluster]") {
  for (const std::uint16_t slot : {0, 1, 12182, 16383}) {
    const NodeQueue q = slot_queue(slot);
    for (const auto* name : {&q.stream, &q.pending, &q.lease, &q.dead, &q.count}) {
      CHECK(route::key_slot(*name) == slot);
    }
    CHECK(queue_stream_slot(q.stream) == slot);
    CHECK(queue_stream_slot(q.pending) == -1);  // only the stream names a queue
  }
  // Golden: the slot of "foo" has the tag 9Le.
  CHECK(slot_queue(12182).stream == "sidecache:wb:{9Le}");
  CHECK(slot_queue(12182).pending == "sidecache:wbp:{9Le}");
  CHECK(slot_queue(12182).count == "sidecache:wbn:{9Le}");
  const auto all = slot_queues();
  REQUIRE(all.size() == 16384);
  CHECK(all[12182].stream == "sidecache:wb:{9Le}");
  // Not a slot queue: another tag of a slot than its own, no tag, another name.
  CHECK(queue_stream_slot("sidecache:wb:{foo}") == -1);
  CHECK(queue_stream_slot("sidecache:wb:{9Le}x") == -1);
  CHECK(queue_stream_slot("sidecache:wb:") == -1);
  CHECK(queue_stream_slot("sidecache:wbdead:{9Le}") == -1);
}

TEST_CASE("slot hints: each marked slot taken once, in order", "[write][queue][cluster]") {
  SlotHints hints;
  CHECK(hints.take().empty());
  for (const std::uint16_t slot : {16383, 5, 64, 5, 0}) hints.mark(slot);
  CHECK(hints.take() == std::vector<std::uint16_t>{0, 5, 64, 16383});
  CHECK(hints.take().empty());
  hints.mark(7);
  CHECK(hints.take() == std::vector<std::uint16_t>{7});
}

}  // namespace
}  // namespace sidecache::write
