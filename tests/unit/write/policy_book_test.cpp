// The write path's policies across reloads: the running behind policy by name, else the last
// one a reload retired, so what is queued for it is still written.
#include <catch2/catch.hpp>

#include "write/policy_book.hpp"

namespace sidecache::write {
namespace {

using config::WriteMode;

config::CachePolicy policy(std::string name, std::string table, WriteMode mode) {
  config::CachePolicy p;
  p.name = name;
  p.match = name + ":*";
  p.table = std::move(table);
  p.key_column = "id";
  p.value_column = "v";
  p.ttl = std::chrono::milliseconds(60000);
  p.write = mode;
  return p;
}

struct Book {
  std::shared_ptr<cache::Shared> cache =
      std::make_shared<cache::Shared>(nullptr, std::make_shared<cache::CacheStats>());
  PolicyBook book{cache};
  // A reload, in the daemon's order.
  std::vector<std::string> reload(const config::CacheConfig& next) {
    auto retired = book.retire(next);
    cache->set_policies(next);
    return retired;
  }
};

TEST_CASE("the running behind policy is found by name", "[write][policy_book]") {
  Book b;
  config::CacheConfig c;
  c.policies = {policy("a", "ta", WriteMode::kBehind), policy("b", "tb", WriteMode::kThrough)};
  CHECK(b.reload(c).empty());
  bool retired = true;
  auto a = b.book.behind("a", &retired);
  REQUIRE(a != nullptr);
  CHECK(a->config.table == "ta");
  CHECK_FALSE(retired);
  CHECK(b.book.behind("b") == nullptr);  // not behind, never was
  CHECK(b.book.behind("zz") == nullptr);
  CHECK(b.book.ttl("b") == std::chrono::milliseconds(60000));
  CHECK(b.book.ttl("zz") == std::chrono::milliseconds(0));
  CHECK(any_behind(*b.cache->snapshot()->set));
}

TEST_CASE("a reload that removes behind keeps the last table for queued entries",
          "[write][policy_book]") {
  Book b;
  config::CacheConfig first;
  first.policies = {policy("a", "ta", WriteMode::kBehind), policy("c", "tc", WriteMode::kBehind)};
  b.reload(first);
  auto held = b.book.behind("a");  // a flusher in the middle of a batch

  // a: behind -> none, with another table; c: removed.
  config::CacheConfig second;
  second.policies = {policy("a", "other", WriteMode::kNone)};
  auto retired = b.reload(second);
  CHECK(retired == std::vector<std::string>{"a", "c"});
  CHECK_FALSE(any_behind(*b.cache->snapshot()->set));
  bool was_retired = false;
  auto a = b.book.behind("a", &was_retired);
  REQUIRE(a != nullptr);
  CHECK(was_retired);
  CHECK(a->config.table == "ta");  // the last behind version, not the running one
  auto c = b.book.behind("c");
  REQUIRE(c != nullptr);
  CHECK(c->config.table == "tc");
  CHECK(held->config.table == "ta");  // still valid after the swap
  CHECK(b.book.ttl("c") == std::chrono::milliseconds(60000));

  // a: behind again, on a new table: the running one wins and the retired one is forgotten.
  config::CacheConfig third;
  third.policies = {policy("a", "new", WriteMode::kBehind)};
  CHECK(b.reload(third).empty());
  a = b.book.behind("a", &was_retired);
  REQUIRE(a != nullptr);
  CHECK_FALSE(was_retired);
  CHECK(a->config.table == "new");
  CHECK(b.book.behind("c") != nullptr);  // still retired

  // An invalid reload never reaches the book: nothing changes (the daemon keeps the running
  // config). A reload back to the same config retires nothing.
  CHECK(b.reload(third).empty());
}

TEST_CASE("the queue-wide options are the last ones set", "[write][policy_book]") {
  Book b;
  config::CacheConfig c;
  c.write_behind.batch_size = 7;
  c.write_behind.flush_interval = std::chrono::milliseconds(5);
  b.book.set_queue_options(c.write_behind);
  CHECK(b.book.queue_options().batch_size == 7);
  CHECK(b.book.queue_options().flush_interval == std::chrono::milliseconds(5));
}

}  // namespace
}  // namespace sidecache::write
