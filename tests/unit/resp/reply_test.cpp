// ReplyFramer, integer_reply and split_array. Framer cases are fed whole, split at every byte
// and one byte at a time (feed.hpp).
#include "resp/reply.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "feed.hpp"

using namespace std::string_literals;
using sidecache::resp::FrameStatus;
using sidecache::resp::integer_reply;
using sidecache::resp::ReplyFramer;
using sidecache::resp::ReplyLimits;
using sidecache::resp::split_array;
using sidecache::resp::test::frame_all;
using sidecache::resp::test::FrameRun;

// Counts heap allocations so the test can show framing does not allocate per reply.
namespace {
std::atomic<std::size_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
  return operator new(size, tag);
}
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

// Each reply in `replies` must be framed on its own, and all of them as a pipeline.
void expect_replies(const std::vector<std::string>& replies, const ReplyLimits& limits = {}) {
  std::string all;
  for (const auto& r : replies) {
    INFO("reply: " << r);
    const FrameRun one = frame_all(r, limits);
    REQUIRE(one.replies == std::vector<std::string>{r});
    CHECK(one.pending == 0);
    all += r;
  }
  const FrameRun run = frame_all(all, limits);
  CHECK(run.replies == replies);
  CHECK(run.last == FrameStatus::kNeedMore);
  CHECK(run.pending == 0);
}

void expect_error(const std::string& input, const std::string& error,
                  const ReplyLimits& limits = {}) {
  INFO("input: " << input);
  const FrameRun run = frame_all(input, limits);
  REQUIRE(run.last == FrameStatus::kError);
  CHECK(run.error == error);
}

}  // namespace

TEST_CASE("RESP2 replies", "[reply]") {
  expect_replies({"+OK\r\n", "-ERR unknown command\r\n", ":0\r\n", ":-42\r\n", "$3\r\nfoo\r\n",
                  "$0\r\n\r\n", "$-1\r\n", "*-1\r\n", "*0\r\n", "$4\r\n\r\n\r\n\r\n",
                  "*2\r\n$1\r\na\r\n$-1\r\n", "*3\r\n*2\r\n:1\r\n:2\r\n*0\r\n*1\r\n*-1\r\n",
                  "+\r\n"});
}

TEST_CASE("RESP3 replies", "[reply]") {
  expect_replies(
      {"_\r\n", ",3.14\r\n", ",inf\r\n", "#t\r\n",
       "(3492890328409238509324850943850943825024385\r\n", "=15\r\ntxt:Some string\r\n",
       "!21\r\nSYNTAX invalid syntax\r\n", "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n", "%0\r\n",
       "~2\r\n+a\r\n+b\r\n", ">3\r\n+message\r\n+chan\r\n$5\r\nhello\r\n",
       // An attribute and the value it describes are one reply.
       "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2039123\r\n:9543892\r\n",
       "|0\r\n+x\r\n", "*2\r\n|1\r\n+ttl\r\n:3\r\n+v\r\n:1\r\n", "%1\r\n*1\r\n_\r\n~1\r\n#f\r\n"});
}

TEST_CASE("RESP3 replies as real commands send them", "[reply]") {
  expect_replies(
      {// HGETALL / CONFIG GET: maps; SMEMBERS: a set; ZSCORE: a double; GET missing: null.
       "%2\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n$2\r\nv2\r\n",
       "~3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", "~0\r\n", ",1.5\r\n", ",-inf\r\n", ",nan\r\n",
       ",-1.25e-10\r\n", "_\r\n", "#f\r\n", "(-12345678901234567890123\r\n",
       // ZRANGE WITHSCORES: pairs of [member, double]; SCAN: [cursor, array].
       "*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n",
       "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n",
       // INFO: verbatim; a verbatim holding CRLF; HELLO 3's map with nested empty array.
       "=10\r\ntxt:a\r\nb:c\r\n", "=4\r\nmkd:\r\n",
       "%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nmodules\r\n*0\r\n",
       // Pushes (Pub/Sub, invalidation) with nested aggregates; an attribute before a map value.
       ">4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$1\r\nc\r\n$1\r\nm\r\n",
       ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n", ">2\r\n$10\r\ninvalidate\r\n_\r\n",
       "%1\r\n$1\r\nk\r\n|1\r\n+a\r\n#t\r\n%1\r\n+x\r\n~1\r\n,0\r\n",
       "|1\r\n+a\r\n:0\r\n|1\r\n+b\r\n:1\r\n:2\r\n",  // an attribute on an attribute's value
       "*3\r\n!3\r\nERR\r\n_\r\n%0\r\n"});
}

TEST_CASE("split_array over RESP3 elements", "[reply]") {
  std::vector<std::string_view> out;
  const std::string reply = "*5\r\n_\r\n,2.5\r\n%1\r\n+a\r\n~1\r\n#t\r\n=5\r\ntxt:x\r\n(7\r\n";
  REQUIRE(split_array(reply, out));
  REQUIRE(out.size() == 5);
  CHECK(out[0] == "_\r\n");
  CHECK(out[1] == ",2.5\r\n");
  CHECK(out[2] == "%1\r\n+a\r\n~1\r\n#t\r\n");
  CHECK(out[3] == "=5\r\ntxt:x\r\n");
  CHECK(out[4] == "(7\r\n");
}

TEST_CASE("malformed replies", "[reply]") {
  expect_error("?foo\r\n", "invalid reply type byte");
  expect_error("\r\n", "invalid reply type byte");
  expect_error("*1\r\nx\r\n", "invalid reply type byte");
  expect_error("$-2\r\n", "invalid reply length");
  expect_error("*-2\r\n", "invalid reply length");
  expect_error("%-1\r\n", "invalid reply length");
  expect_error("=-1\r\n", "invalid reply length");
  for (const char* bad : {"$abc\r\n", "$\r\n", "$+1\r\n", "$01\r\n", "$ 1\r\n", "*1 \r\n",
                          "*99999999999999999999\r\n"}) {
    expect_error(bad, "invalid reply length");
  }
  expect_error("*?\r\n", "streamed replies are not supported");
  expect_error("$?\r\n", "streamed replies are not supported");
  expect_error("$3\r\nfooXX", "expected CRLF after bulk payload");
  expect_error("*2\r\n$3\r\nfoo\nX", "expected CRLF after bulk payload");
  expect_error("+OK\rX", "expected CRLF after reply line");
  expect_error("*1\r\n:1\rX", "expected CRLF after reply line");
}

TEST_CASE("truncated replies wait for more", "[reply]") {
  for (const std::string partial : {"+OK", "+OK\r", "$3\r\nfo", "$3\r\nfoo\r", "*2\r\n:1\r\n",
                                    "*1\r\n*1\r\n*1\r\n", "|1\r\n+a\r\n+b\r\n", "%1\r\n+k\r\n"}) {
    INFO(partial);
    const FrameRun run = frame_all(partial);
    CHECK(run.last == FrameStatus::kNeedMore);
    CHECK(run.replies.empty());
    CHECK(run.pending == partial.size());
  }
}

TEST_CASE("reply limits", "[reply]") {
  ReplyLimits small;
  small.max_line_bytes = 8;
  small.max_bulk_bytes = 12;
  small.max_elements = 10;
  expect_replies({":1234567\r\n", "$12\r\n123456789012\r\n", "*1\r\n*1\r\n*1\r\n:1\r\n",
                  "+12345678901\r\n", "-ERR 5678901\r\n",
                  "*10\r\n" +
                      [] {
                        std::string s;
                        for (int i = 0; i < 10; ++i) s += ":1\r\n";
                        return s;
                      }()},
                 small);
  expect_error(":12345678\r\n", "reply line too long", small);
  expect_error(":123456789", "reply line too long", small);
  expect_error("$1234567890\r\n", "reply line too long", small);
  // Status and error lines are text: bounded like a bulk, not like a number line.
  expect_error("+1234567890123\r\n", "reply line too long", small);
  expect_error("-12345678901234", "reply line too long", small);
  expect_error("$13\r\n", "bulk reply too big", small);
  expect_error("*11\r\n", "too many elements in reply", small);
  expect_error("*2\r\n*9\r\n", "too many elements in reply", small);  // 2 + 9 > 10
  expect_error("%6\r\n", "too many elements in reply", small);        // 12 elements
}

namespace {

// What Redis sends for `local a = {}; local b = {a}; a[1] = b; return a`: `depth` one-element
// arrays, the innermost holding the Lua error.
std::string lua_cycle_reply(int depth) {
  std::string wire;
  for (int i = 0; i < depth; ++i) wire += "*1\r\n";
  return wire + "-ERR reached lua stack limit\r\n";
}

std::size_t frame_once(ReplyFramer& framer, std::string_view input, FrameStatus& status) {
  std::size_t length = 0;
  status = framer.frame(input, length);
  return length;
}

}  // namespace

TEST_CASE("any nesting depth frames", "[reply]") {
  // Small enough for every split point.
  expect_replies({lua_cycle_reply(300), "*2\r\n" + lua_cycle_reply(200) + lua_cycle_reply(100)});
  // Mixed shapes keep their structure while deep: maps, sets, attributes, pushes.
  std::string mixed;
  for (int i = 0; i < 500; ++i)
    mixed += i % 4 == 0   ? "%1\r\n+k\r\n"
             : i % 4 == 1 ? "~2\r\n:1\r\n"
             : i % 4 == 2 ? "|1\r\n+a\r\n+b\r\n*2\r\n"
                          : ">1\r\n";
  mixed += "_\r\n";
  for (int i = 0; i < 500; ++i) {
    if (i % 4 == 2) mixed += ":9\r\n";  // the second element of the `*2` after each attribute
  }
  expect_replies({mixed});

  // Deeper than Redis's Lua limit and far deeper, fed whole and in uneven chunks.
  for (const int depth : {7995, 1000000}) {
    INFO("depth " << depth);
    const std::string wire = lua_cycle_reply(depth) + "+OK\r\n";
    ReplyFramer framer;
    FrameStatus status;
    CHECK(frame_once(framer, wire, status) == wire.size() - 5);
    CHECK(status == FrameStatus::kComplete);
    std::size_t seen = 0;
    for (std::size_t end = 1; seen == 0; end = std::min(wire.size(), end * 3 + 1)) {
      seen = frame_once(framer, std::string_view(wire).substr(0, end), status);
      if (seen == 0) REQUIRE(status == FrameStatus::kNeedMore);
    }
    CHECK(seen == wire.size() - 5);
  }
}

TEST_CASE("the aggregate stack follows the bytes, not the depth", "[reply]") {
  // A chain of one-element aggregates is one stack entry however deep; the framer's memory is
  // measured by counting allocations while a million levels are framed.
  const std::string deep = lua_cycle_reply(1000000);
  ReplyFramer framer;
  FrameStatus status;
  frame_once(framer, "*2\r\n*2\r\n:1\r\n:1\r\n:1\r\n", status);  // reserves the stack
  REQUIRE(status == FrameStatus::kComplete);
  const std::size_t before = g_allocations.load();
  CHECK(frame_once(framer, deep, status) == deep.size());
  CHECK(g_allocations.load() == before);
  // Two-element levels need an entry each: 20,000 levels frame (the entries cost at most twice
  // the header bytes that opened them).
  std::string wide;
  for (int i = 0; i < 20000; ++i) wide += "*2\r\n:0\r\n";
  wide += "_\r\n";
  CHECK(frame_once(framer, wide, status) == wide.size());
  CHECK(status == FrameStatus::kComplete);
  // Nested two-element levels whose first element is the nested one: closes level by level.
  std::string nested;
  for (int i = 0; i < 20000; ++i) nested += "*2\r\n";
  nested += "_\r\n";
  for (int i = 0; i < 20000; ++i) nested += ":0\r\n";
  CHECK(frame_once(framer, nested, status) == nested.size());
  CHECK(status == FrameStatus::kComplete);
  CHECK(frame_once(framer, nested.substr(0, nested.size() - 1), status) == 0);
  CHECK(status == FrameStatus::kNeedMore);
}

TEST_CASE("after an error the framer stays failed until reset", "[reply]") {
  ReplyFramer framer;
  std::size_t length = 7;
  REQUIRE(framer.frame("x\r\n", length) == FrameStatus::kError);
  CHECK(length == 0);
  CHECK(framer.frame("+OK\r\n", length) == FrameStatus::kError);
  framer.reset();
  CHECK(framer.frame("+OK\r\n", length) == FrameStatus::kComplete);
  CHECK(length == 5);
}

TEST_CASE("framing does not allocate per reply in the steady state", "[reply]") {
  const std::string reply = "*3\r\n$3\r\nfoo\r\n*2\r\n:1\r\n%1\r\n+a\r\n_\r\n$-1\r\n";
  ReplyFramer framer;
  std::size_t length = 0;
  REQUIRE(framer.frame(reply, length) == FrameStatus::kComplete);  // warms the stack up
  const std::size_t before = g_allocations.load();
  for (int i = 0; i < 1000; ++i) {
    for (std::size_t k = 1; k < reply.size(); k += 7) {
      if (framer.frame(std::string_view(reply).substr(0, k), length) != FrameStatus::kNeedMore) {
        FAIL("early result");
      }
    }
    if (framer.frame(reply, length) != FrameStatus::kComplete || length != reply.size()) {
      FAIL("not complete");
    }
  }
  CHECK(g_allocations.load() == before);
}

TEST_CASE("integer_reply", "[reply]") {
  CHECK(integer_reply(":0\r\n") == 0);
  CHECK(integer_reply(":-12\r\n") == -12);
  CHECK(integer_reply(":9223372036854775807\r\n") == std::numeric_limits<std::int64_t>::max());
  CHECK(integer_reply(":-9223372036854775808\r\n") == std::numeric_limits<std::int64_t>::min());
  for (const char* bad :
       {":9223372036854775808\r\n", ":-9223372036854775809\r\n", "+1\r\n", ":\r\n", ":1",
        ":1\r\n:2\r\n", ":01\r\n", ":+1\r\n", ":1\n", "$1\r\n1\r\n", ""}) {
    CHECK_FALSE(integer_reply(bad).has_value());
  }
}

TEST_CASE("split_array", "[reply]") {
  std::vector<std::string_view> out{"keep"};
  const std::string reply = "*4\r\n$1\r\na\r\n*-1\r\n:5\r\n*2\r\n+x\r\n$-1\r\n";
  REQUIRE(split_array(reply, out));
  REQUIRE(out.size() == 5);
  CHECK(out[0] == "keep");
  CHECK(out[1] == "$1\r\na\r\n");
  CHECK(out[2] == "*-1\r\n");
  CHECK(out[3] == ":5\r\n");
  CHECK(out[4] == "*2\r\n+x\r\n$-1\r\n");
  CHECK(out[1].data() == reply.data() + 4);  // views into the reply

  out.assign({"keep"});
  CHECK(split_array("*0\r\n", out));
  CHECK(out.size() == 1);
  for (const char* bad :
       {"*-1\r\n", "$3\r\nfoo\r\n", "+OK\r\n", "*2\r\n:1\r\n", "*1\r\n:1\r\n:2\r\n", "*1\r\n:1",
        "*1\r\nx\r\n", "*x\r\n", "*1\r", "*", "", "~1\r\n:1\r\n", "*1000000000\r\n:1\r\n"}) {
    INFO(bad);
    CHECK_FALSE(split_array(bad, out));
    CHECK(out.size() == 1);  // untouched on failure
  }
}
