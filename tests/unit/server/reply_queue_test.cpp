// The session's reply queue without a socket: replies leave in request order whatever order
// they arrive in, pushes never land between a command and its reply, deferred requests give
// their slot back, merges' held bytes count, writes go out in slices, and the limits that
// pause a client's input.
#include "server/reply_queue.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace sidecache::server {
namespace {

using namespace std::chrono_literals;
using Queue = ReplyQueue<std::string>;  // each request keeps its name
using Clock = Queue::Clock;

// Everything the queue has ready to write, as one write would take it.
std::string write_all(Queue& q) {
  if (!q.start_write()) return {};
  std::string written(q.next_slice(~std::size_t{0}, Clock::now()));
  REQUIRE_FALSE(q.wrote(written.size()));
  q.finish_write(64 * 1024);
  return written;
}

TEST_CASE("replies arriving in request order go straight to the output") {
  Queue q;
  const auto a = q.open("a");
  const auto b = q.open("b");
  CHECK(a == 0);
  CHECK(b == 1);
  CHECK(q.size() == 2);
  CHECK(q.deliver(a, "+A\r\n"));
  CHECK(q.size() == 1);
  CHECK(q.deliver(b, "+B\r\n"));
  CHECK(q.empty());
  CHECK(write_all(q) == "+A\r\n+B\r\n");
  CHECK(q.output_bytes() == 0);
}

TEST_CASE("replies arriving out of order are written in request order") {
  Queue q;
  const auto a = q.open("a");
  const auto b = q.open("b");
  const auto c = q.open("c");
  CHECK_FALSE(q.deliver(c, "+C\r\n"));  // parked: a and b are owed
  CHECK_FALSE(q.deliver(b, "+B\r\n"));
  CHECK(q.size() == 3);
  CHECK(q.output_bytes() == 8);  // parked bytes count
  CHECK(q.buffered_replies() == 2);
  CHECK_FALSE(q.start_write());  // nothing may be written before a's reply
  CHECK(q.deliver(a, "+A\r\n"));
  CHECK(q.empty());
  CHECK(q.buffered_replies() == 3);
  CHECK(write_all(q) == "+A\r\n+B\r\n+C\r\n");
  CHECK(q.output_bytes() == 0);
  CHECK(q.buffered_replies() == 0);
}

TEST_CASE("a reply moves only the ready prefix: a gap keeps later replies parked") {
  Queue q;
  const auto a = q.open("a");
  const auto b = q.open("b");
  const auto c = q.open("c");
  const auto d = q.open("d");
  CHECK_FALSE(q.deliver(b, "+B\r\n"));
  CHECK_FALSE(q.deliver(d, "+D\r\n"));
  CHECK(q.deliver(a, "+A\r\n"));  // a, b out; c owed; d parked
  CHECK(q.size() == 2);
  CHECK(write_all(q) == "+A\r\n+B\r\n");
  CHECK(q.output_bytes() == 4);
  CHECK(q.deliver(c, "+C\r\n"));
  CHECK(write_all(q) == "+C\r\n+D\r\n");
  CHECK(q.empty());
}

TEST_CASE("tags keep counting as slots leave, and each slot keeps its request") {
  Queue q;
  for (std::uint64_t i = 0; i < 5; ++i) {
    const auto tag = q.open("r" + std::to_string(i));
    CHECK(tag == i);
    CHECK(q.request(tag) == "r" + std::to_string(i));
    q.request(tag) += "!";  // the session fills in what dispatch did after opening the slot
    CHECK(q.request(tag) == "r" + std::to_string(i) + "!");
    CHECK(q.deliver(tag, ":1\r\n"));
  }
  const auto late = q.open("x");
  const auto later = q.open("y");
  CHECK(late == 5);
  CHECK_FALSE(q.deliver(later, ":2\r\n"));
  CHECK(q.request(late) == "x");  // a parked neighbour leaves the owed slot's request alone
  CHECK(q.deliver(late, ":3\r\n"));
  CHECK(write_all(q) == ":1\r\n:1\r\n:1\r\n:1\r\n:1\r\n:3\r\n:2\r\n");
}

TEST_CASE("every delivery order writes the replies in request order") {
  constexpr int kRequests = 7;
  std::vector<int> order(kRequests);
  std::iota(order.begin(), order.end(), 0);
  std::string expected;
  for (int i = 0; i < kRequests; ++i) expected += ":" + std::to_string(i) + "\r\n";
  int permutations = 0;
  do {
    Queue q;
    for (int i = 0; i < kRequests; ++i) q.open(std::to_string(i));
    std::string written;
    for (const int i : order) {
      q.deliver(static_cast<std::uint64_t>(i), ":" + std::to_string(i) + "\r\n");
      written += write_all(q);  // writes interleaved with arrivals
    }
    REQUIRE(written == expected);
    REQUIRE(q.empty());
    REQUIRE(q.output_bytes() == 0);
    REQUIRE(q.buffered_replies() == 0);
    ++permutations;
  } while (std::next_permutation(order.begin(), order.end()));
  CHECK(permutations == 5040);
}

TEST_CASE("pushes go after the replies owed when they come, never before a reply") {
  SECTION("nothing owed: at once") {
    Queue q;
    q.push(">3\r\nmsg\r\n");
    CHECK(q.buffered_replies() == 1);
    CHECK(write_all(q) == ">3\r\nmsg\r\n");
  }
  SECTION("behind the newest slot, even when its reply comes last") {
    Queue q;
    const auto a = q.open("subscribe");
    const auto b = q.open("ping");
    q.push("[m1]");
    CHECK(q.output_bytes() == 4);
    CHECK_FALSE(q.deliver(b, "[pong]"));
    q.push("[m2]");
    const auto c = q.open("get");  // opened after the pushes: its reply follows them
    CHECK(q.deliver(a, "[sub]"));
    CHECK(write_all(q) == "[sub][pong][m1][m2]");
    CHECK(q.deliver(c, "[v]"));
    CHECK(write_all(q) == "[v]");
    CHECK(q.output_bytes() == 0);
  }
  SECTION("behind a slot owed at the head") {
    Queue q;
    const auto a = q.open("a");
    q.push("[m]");
    CHECK_FALSE(q.start_write());
    CHECK(q.deliver(a, "[A]"));
    CHECK(write_all(q) == "[A][m]");
  }
}

TEST_CASE("a deferred request gives its slot back and gets the same tag when read again") {
  Queue q;
  const auto a = q.open("get");
  const auto multi = q.open("multi");
  q.drop_last();  // MULTI waits until a's reply is out
  CHECK(q.size() == 1);
  CHECK(q.deliver(a, "+A\r\n"));
  CHECK(q.empty());  // the session's hold ends here: nothing owed
  const auto again = q.open("multi");
  CHECK(again == multi);
  CHECK(q.deliver(again, "+OK\r\n"));
  CHECK(write_all(q) == "+A\r\n+OK\r\n");
}

TEST_CASE("a hold waits for every reply owed, whatever order they come in") {
  Queue q;
  const auto a = q.open("get");
  const auto b = q.open("get");
  const auto exec = q.open("exec");  // the session holds its input after EXEC
  CHECK_FALSE(q.deliver(exec, "*0\r\n"));
  CHECK_FALSE(q.deliver(b, "$-1\r\n"));
  CHECK_FALSE(q.empty());  // still held: a is owed
  CHECK(q.deliver(a, "$-1\r\n"));
  CHECK(q.empty());  // released
}

TEST_CASE("bytes held by a merge count as buffered output until given back") {
  Queue q;
  const auto a = q.open("mget");
  q.hold(100);
  CHECK(q.output_bytes() == 100);
  CHECK(q.buffered_replies() == 1);
  q.hold(50);
  CHECK(q.output_bytes() == 150);
  q.hold(-150);  // the merge answers: its parts are given back, its reply takes their place
  CHECK(q.output_bytes() == 0);
  CHECK(q.buffered_replies() == 0);
  CHECK(q.deliver(a, "*0\r\n"));
  CHECK(q.output_bytes() == 4);
}

TEST_CASE("a write goes out in slices while new replies gather behind it") {
  Queue q;
  const auto a = q.open("a");
  CHECK(q.deliver(a, std::string(10, 'x')));
  CHECK_FALSE(q.writing());
  REQUIRE(q.start_write());
  CHECK(q.writing());
  CHECK_FALSE(q.start_write());  // one write at a time
  const auto t0 = Clock::now();
  CHECK(q.next_slice(4, t0) == "xxxx");
  CHECK(q.write_progress() == t0);
  CHECK(q.wrote(4));
  const auto b = q.open("b");
  CHECK(q.deliver(b, "yy"));      // gathers in the output while the write runs
  CHECK(q.output_bytes() == 12);  // the whole write buffer counts until the write ends
  CHECK(q.buffered_replies() == 2);
  const auto t1 = t0 + 1ms;
  CHECK(q.next_slice(4, t1) == "xxxx");
  CHECK(q.write_progress() == t1);
  CHECK(q.wrote(3));  // a short write: the rest comes in the next slice
  CHECK(q.next_slice(4, t1) == "xxx");
  CHECK_FALSE(q.wrote(3));
  q.finish_write(64 * 1024);
  CHECK_FALSE(q.writing());
  CHECK(q.output_bytes() == 2);
  CHECK(write_all(q) == "yy");
}

TEST_CASE("publish() reports the change of buffered bytes since the last call") {
  Queue q;
  CHECK(q.publish() == 0);
  const auto a = q.open("a");
  const auto b = q.open("b");
  q.deliver(b, "12345");
  CHECK(q.publish() == 5);
  CHECK(q.published() == 5);
  q.deliver(a, "123");
  CHECK(q.publish() == 3);
  write_all(q);
  CHECK(q.publish() == -8);
  CHECK(q.published() == 0);
}

TEST_CASE("release() frees what is buffered for a client that is gone") {
  Queue q;
  const auto a = q.open("a");
  const auto b = q.open("b");
  const auto c = q.open("c");
  CHECK(q.deliver(a, "first"));
  REQUIRE(q.start_write());  // in flight: its buffer stays until the write ends
  CHECK_FALSE(q.deliver(c, "parked"));
  q.push("pushed");
  CHECK(q.output_bytes() == 5 + 6 + 6);
  q.release();
  CHECK(q.output_bytes() == 5);
  CHECK(q.buffered_replies() == 1);
  q.finish_write(0);
  CHECK(q.output_bytes() == 0);
  CHECK(q.buffered_replies() == 0);
  // A reply that still comes is accounted like any other.
  CHECK(q.deliver(b, "late"));
  CHECK(q.output_bytes() == 4);
  CHECK(q.size() == 1);  // c's reply was freed with the rest: c is owed again
}

TEST_CASE("limits: pipeline depth") {
  Queue q;
  for (int i = 0; i < 3; ++i) q.open("r");
  CHECK_FALSE(q.over_limits(4, 1 << 30));
  q.open("r");
  CHECK(q.over_limits(4, 1 << 30));
  q.deliver(0, "+OK\r\n");
  CHECK_FALSE(q.over_limits(4, 1 << 30));
}

TEST_CASE("limits: buffered output") {
  Queue q;
  const auto a = q.open("a");
  CHECK(q.deliver(a, std::string(100, 'x')));
  CHECK_FALSE(q.over_limits(1000, 101));
  CHECK(q.over_limits(1000, 100));  // at the limit: paused
  write_all(q);
  CHECK_FALSE(q.over_limits(1000, 100));
  q.hold(100);  // held bytes count too
  CHECK(q.over_limits(1000, 100));
}

TEST_CASE("limits: requests in flight times the expected reply size") {
  constexpr std::uint64_t kLimit = 1600;
  Queue q;
  SECTION("before any reply: at most kColdWindow requests in flight") {
    for (std::size_t i = 1; i < Queue::kColdWindow; ++i) q.open("r");
    CHECK_FALSE(q.over_limits(1000, kLimit));
    q.open("r");
    CHECK(q.over_limits(1000, kLimit));
  }
  SECTION("after replies: their decaying maximum size") {
    const auto a = q.open("a");
    q.deliver(a, std::string(400, 'x'));
    write_all(q);
    CHECK(q.reply_estimate() == 400);
    for (int i = 0; i < 3; ++i) q.open("r");
    CHECK_FALSE(q.over_limits(1000, kLimit));  // 3 x 400 < 1600
    q.open("r");
    CHECK(q.over_limits(1000, kLimit));  // 4 x 400
    // Small replies bring the estimate down by an eighth each.
    for (std::uint64_t tag = 1; tag <= 4; ++tag) q.deliver(tag, "+OK\r\n");
    CHECK(q.reply_estimate() == 400 - 50 - 43 - 38 - 33);
    write_all(q);
    for (int i = 0; i < 6; ++i) q.open("r");
    CHECK_FALSE(q.over_limits(1000, kLimit));  // 6 x 236
    q.open("r");
    CHECK(q.over_limits(1000, kLimit));  // 7 x 236
  }
  SECTION("parked replies are not in flight") {
    const auto a = q.open("a");
    q.deliver(a, std::string(400, 'x'));
    write_all(q);
    const auto owed = q.open("r");
    for (int i = 0; i < 4; ++i) q.deliver(q.open("r"), "+");  // parked behind `owed`
    // Five slots, four of them answered: one request in flight (1 x 236 bytes expected, where
    // five would be 1180).
    CHECK(q.size() == 5);
    CHECK(q.reply_estimate() == 236);
    CHECK_FALSE(q.over_limits(1000, 1000));
    CHECK(q.deliver(owed, "+"));
  }
}

TEST_CASE("a client is over its output limit with two replies or more and a write running") {
  Queue q;
  const auto a = q.open("a");
  const auto b = q.open("b");
  CHECK(q.deliver(a, std::string(200, 'x')));
  CHECK_FALSE(q.over_output_limit(100));  // no write started: the writer is not stuck yet
  REQUIRE(q.start_write());
  CHECK_FALSE(q.over_output_limit(100));  // one large reply may exceed the limit on its own
  CHECK(q.deliver(b, "+OK\r\n"));
  CHECK(q.over_output_limit(100));
  CHECK_FALSE(q.over_output_limit(205));  // 205 bytes: not beyond the limit
  q.wrote(200);
  q.finish_write(0);
  CHECK_FALSE(q.over_output_limit(100));
}

TEST_CASE("many clients' worth of random traffic keeps order and accounting") {
  std::mt19937 rng(20261207);
  for (int round = 0; round < 200; ++round) {
    Queue q;
    std::vector<std::uint64_t> owed;
    std::string expected;
    std::string written;
    std::uint64_t next = 0;
    std::int64_t held = 0;
    for (int step = 0; step < 300; ++step) {
      const int what = static_cast<int>(rng() % 10);
      if (what < 4) {
        const auto tag = q.open(std::to_string(next));
        REQUIRE(tag == next);
        owed.push_back(tag);
        ++next;
      } else if (what < 8 && !owed.empty()) {
        const std::size_t pick = rng() % owed.size();
        const auto tag = owed[pick];
        owed.erase(owed.begin() + static_cast<std::ptrdiff_t>(pick));
        q.deliver(tag, "<" + std::to_string(tag) + ">");
      } else if (what == 8) {
        written += write_all(q);
      } else {
        const std::int64_t delta = held > 0 && rng() % 2 ? -held : 10;
        q.hold(delta);
        held += delta;
      }
    }
    for (const auto tag : owed) q.deliver(tag, "<" + std::to_string(tag) + ">");
    q.hold(-held);
    written += write_all(q);
    for (std::uint64_t i = 0; i < next; ++i) expected += "<" + std::to_string(i) + ">";
    REQUIRE(written == expected);
    REQUIRE(q.empty());
    REQUIRE(q.output_bytes() == 0);
    REQUIRE(q.buffered_replies() == 0);
  }
}

TEST_CASE("slots are reused round the ring and keep order when it grows while wrapped") {
  Queue q;
  std::string expected;
  std::uint64_t next = 0;
  // A window of requests in flight that slides past the ring's end many times, growing from
  // 1 to 40 slots owed (so the ring grows while its oldest slot is not at its start). Each
  // step parks the newest reply (once), then the oldest goes out with the parked ones behind it.
  std::vector<std::uint64_t> owed;  // oldest first
  std::vector<bool> given;          // by tag
  const auto reply = [](std::uint64_t tag) { return "+" + std::to_string(tag) + "\r\n"; };
  for (int step = 0; step < 400; ++step) {
    const std::size_t window = 1 + static_cast<std::size_t>(step) / 10;
    while (owed.size() < window) {
      const auto tag = q.open("r" + std::to_string(next));
      CHECK(tag == next);
      CHECK(q.request(tag) == "r" + std::to_string(tag));
      owed.push_back(tag);
      given.push_back(false);
      ++next;
    }
    if (owed.size() >= 2 && !given[owed.back()]) {
      given[owed.back()] = true;
      CHECK_FALSE(q.deliver(owed.back(), reply(owed.back())));
    }
    given[owed.front()] = true;
    CHECK(q.deliver(owed.front(), reply(owed.front())));
    // What went out is a prefix of what was owed: the oldest and the ready replies behind it.
    while (!owed.empty() && given[owed.front()]) {
      expected += reply(owed.front());
      owed.erase(owed.begin());
    }
    CHECK(q.size() == owed.size());
    if (!owed.empty()) CHECK(q.request(owed.front()) == "r" + std::to_string(owed.front()));
  }
  CHECK(write_all(q) == expected);
}

}  // namespace
}  // namespace sidecache::server
