// Differential test: random nested RESP2 reply streams, fed in random-size chunks both to
// hiredis's redisReader and to ReplyFramer (+ split_array / integer_reply to decode). Both must
// see the same replies, and both must match what was generated.
#include <hiredis/hiredis.h>

#include <catch2/catch.hpp>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "feed.hpp"
#include "resp/reply.hpp"
#include "resp/writer.hpp"

namespace {

using namespace sidecache::resp;

// A decoded RESP2 value. hiredis 0.14 maps both null bulk and null array to NIL, so `null`
// carries no type here.
struct Value {
  char type = '+';  // + - : $ * or 'n' for null
  std::int64_t integer = 0;
  std::string str;
  std::vector<Value> elements;
  bool operator==(const Value&) const = default;
};

class Generator {
 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {}

  // Appends a random reply to `wire` and returns its value. hiredis 0.14 supports 7 levels of
  // nesting; stay below.
  Value generate(std::string& wire, int depth = 0) {
    Value v;
    const unsigned pick = rng_() % (depth >= 5 ? 5 : 7);
    switch (pick) {
      case 0:
        v.type = '+';
        v.str = text();
        append_simple(wire, v.str);
        break;
      case 1:
        v.type = '-';
        v.str = "ERR " + text();
        append_error(wire, v.str);
        break;
      case 2:
        v.type = ':';
        v.integer = static_cast<std::int64_t>(rng_()) >> (rng_() % 64);
        append_integer(wire, v.integer);
        break;
      case 3:
        v.type = '$';
        v.str = binary();
        append_bulk(wire, v.str);
        break;
      case 4:
        v.type = 'n';
        wire += rng_() % 2 ? "$-1\r\n" : "*-1\r\n";
        break;
      default: {
        v.type = '*';
        const std::size_t n = rng_() % 7;
        append_array_header(wire, n);
        for (std::size_t i = 0; i < n; ++i) v.elements.push_back(generate(wire, depth + 1));
      }
    }
    return v;
  }

  std::size_t chunk() { return rng_() % 4 == 0 ? 1 + rng_() % 8 : 1 + rng_() % 9000; }

 private:
  std::string text() {
    std::string s(rng_() % 20, 'x');
    for (auto& c : s) c = static_cast<char>(' ' + rng_() % 95);
    return s;
  }
  std::string binary() {
    const std::size_t size = rng_() % 50 == 0 ? 10000 + rng_() % 200000 : rng_() % 40;
    std::string s(size, '\0');
    for (auto& c : s) c = static_cast<char>(rng_());
    return s;
  }
  std::mt19937_64 rng_;
};

Value from_hiredis(const redisReply* r) {
  Value v;
  switch (r->type) {
    case REDIS_REPLY_STATUS:
      v.type = '+';
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      v.type = '-';
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      v.type = ':';
      v.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      v.type = '$';
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_NIL:
      v.type = 'n';
      break;
    case REDIS_REPLY_ARRAY:
      v.type = '*';
      for (std::size_t i = 0; i < r->elements; ++i)
        v.elements.push_back(from_hiredis(r->element[i]));
      break;
    default:
      FAIL("unexpected hiredis type " << r->type);
  }
  return v;
}

// Decodes one framed reply with the module's own decoders.
Value from_framed(std::string_view r) {
  Value v;
  v.type = r[0];
  if (r == "$-1\r\n" || r == "*-1\r\n") {
    v.type = 'n';
  } else if (v.type == '+' || v.type == '-') {
    v.str = r.substr(1, r.size() - 3);
  } else if (v.type == ':') {
    const auto n = integer_reply(r);
    REQUIRE(n.has_value());
    v.integer = *n;
  } else if (v.type == '$') {
    const std::size_t header = r.find("\r\n") + 2;
    v.str = r.substr(header, r.size() - header - 2);
    CHECK(std::to_string(v.str.size()) == r.substr(1, header - 3));
  } else {
    REQUIRE(v.type == '*');
    std::vector<std::string_view> parts;
    REQUIRE(split_array(r, parts));
    for (auto part : parts) v.elements.push_back(from_framed(part));
  }
  return v;
}

std::size_t count_values(const Value& v) {
  std::size_t n = 1;
  for (const auto& e : v.elements) n += count_values(e);
  return n;
}

}  // namespace

TEST_CASE("framer agrees with hiredis on random nested RESP2 replies", "[reply][hiredis]") {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    INFO("seed " << seed);
    Generator gen(seed);
    std::string wire;
    std::vector<Value> expected;
    for (int i = 0; i < 150; ++i) expected.push_back(gen.generate(wire));

    std::vector<std::size_t> cuts;
    for (std::size_t at = gen.chunk(); at < wire.size(); at += gen.chunk()) cuts.push_back(at);

    // hiredis, fed the same chunks.
    std::unique_ptr<redisReader, decltype(&redisReaderFree)> reader(redisReaderCreate(),
                                                                    &redisReaderFree);
    std::vector<Value> theirs;
    std::size_t from = 0;
    cuts.push_back(wire.size());
    for (std::size_t to : cuts) {
      REQUIRE(redisReaderFeed(reader.get(), wire.data() + from, to - from) == REDIS_OK);
      from = to;
      for (;;) {
        void* reply = nullptr;
        REQUIRE(redisReaderGetReply(reader.get(), &reply) == REDIS_OK);
        if (reply == nullptr) break;
        theirs.push_back(from_hiredis(static_cast<redisReply*>(reply)));
        freeReplyObject(reply);
      }
    }
    cuts.pop_back();

    // Ours: framed replies from exact-size copies, then decoded.
    const test::FrameRun run = test::run_framer(wire, cuts);
    REQUIRE(run.last == FrameStatus::kNeedMore);
    CHECK(run.pending == 0);
    std::vector<Value> ours;
    for (const auto& r : run.replies) ours.push_back(from_framed(r));

    REQUIRE(theirs.size() == expected.size());
    REQUIRE(ours.size() == expected.size());
    std::size_t values = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
      INFO("reply " << i);
      CHECK(count_values(ours[i]) == count_values(theirs[i]));
      CHECK(ours[i] == theirs[i]);
      CHECK(ours[i] == expected[i]);
      values += count_values(expected[i]);
    }
    CHECK(values >= expected.size());
  }
}

TEST_CASE("framer and hiredis both reject a corrupted stream", "[reply][hiredis]") {
  for (const char* bad : {"*1\r\n?\r\n", "$x\r\n", "@\r\n"}) {
    INFO(bad);
    std::unique_ptr<redisReader, decltype(&redisReaderFree)> reader(redisReaderCreate(),
                                                                    &redisReaderFree);
    redisReaderFeed(reader.get(), bad, std::string_view(bad).size());
    void* reply = nullptr;
    CHECK(redisReaderGetReply(reader.get(), &reply) == REDIS_ERR);
    const test::FrameRun run = test::frame_all(bad);
    CHECK(run.last == FrameStatus::kError);
  }
}
