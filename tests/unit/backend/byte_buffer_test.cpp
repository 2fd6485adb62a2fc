#include <catch2/catch.hpp>
#include <string>

#include "sidecache/util/byte_buffer.hpp"

using sidecache::ByteBuffer;

namespace {

void put(ByteBuffer& b, const std::string& s) {
  std::size_t free = 0;
  char* p = b.prepare(s.size(), free);
  REQUIRE(free >= s.size());
  s.copy(p, s.size());
  b.commit(s.size());
}

}  // namespace

TEST_CASE("ByteBuffer keeps unread bytes across growth, compaction and shrinking") {
  ByteBuffer b(8);
  CHECK(b.allocated() == 0);  // nothing until the first prepare
  put(b, "hello");
  put(b, " world, and more");  // grows
  CHECK(b.readable() == "hello world, and more");
  b.consume(6);
  put(b, std::string(40, 'x'));  // compacts, then grows
  CHECK(b.readable() == "world, and more" + std::string(40, 'x'));
  const std::size_t big = b.capacity();
  b.consume(b.size() - 3);
  b.shrink_to(16);
  CHECK(b.capacity() == 16);
  CHECK(b.capacity() < big);
  CHECK(b.readable() == "xxx");
  b.shrink_to(2);  // would not hold the unread bytes: unchanged
  CHECK(b.capacity() == 16);
}

TEST_CASE("ByteBuffer release frees only an empty buffer") {
  ByteBuffer b(1024);
  put(b, "abc");
  b.release(64);
  CHECK(b.readable() == "abc");
  b.consume(3);
  b.release(64);
  CHECK(b.allocated() == 0);
  put(b, "de");
  CHECK(b.capacity() == 64);
  CHECK(b.readable() == "de");
}

TEST_CASE("ByteBuffer grows to a large message in one buffer") {
  ByteBuffer b(16);
  const std::string chunk(4096, 'z');
  for (int i = 0; i < 1024; ++i) put(b, chunk);
  CHECK(b.size() == 4096u * 1024u);
  CHECK(b.capacity() >= b.size());
  CHECK(b.readable().substr(b.size() - 4) == "zzzz");
}
