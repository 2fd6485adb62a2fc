// Which commands on which keys are database writes, and the errors for those that cannot be.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "write/commands.hpp"

namespace sidecache::write {
namespace {

config::CacheConfig policies() {
  config::CacheConfig cache;
  config::CachePolicy item;
  item.name = "items";
  item.match = "item:*";
  item.table = "items";
  item.key_column = "id";
  item.value_column = "v";
  item.write = config::WriteMode::kThrough;
  config::CachePolicy user = item;
  user.name = "users";
  user.match = "user:*";
  user.mapping = config::ValueMapping::kHash;
  user.value_column.clear();
  user.columns = {"name", "email"};
  user.write = config::WriteMode::kBehind;
  config::CachePolicy read_only = item;
  read_only.name = "ro";
  read_only.match = "ro:*";
  read_only.write = config::WriteMode::kNone;
  cache.policies = {item, user, read_only};
  return cache;
}

Classified run(const cache::PolicySet& set, std::vector<std::string_view> args,
               bool writes = true) {
  std::string name(args[0]);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return classify(set, name, args, writes);
}

TEST_CASE("SET and INCR on a column policy key", "[write][commands]") {
  const cache::PolicySet set(policies());
  auto c = run(set, {"SET", "item:7", "x"});
  REQUIRE(c.kind == Classified::Kind::kWrite);
  REQUIRE(c.writes.size() == 1);
  CHECK(c.writes[0].id == "7");
  CHECK(c.writes[0].op == Op::kSet);
  CHECK(c.writes[0].value == "x");
  c = run(set, {"DECRBY", "item:7", "5"});
  REQUIRE(c.kind == Classified::Kind::kWrite);
  CHECK(c.writes[0].op == Op::kIncr);
  CHECK(c.writes[0].delta == -5);
  CHECK(run(set, {"INCRBY", "item:7", "x"}).kind == Classified::Kind::kError);
}

TEST_CASE("keys of no write policy and reads pass", "[write][commands]") {
  const cache::PolicySet set(policies());
  CHECK(run(set, {"SET", "other", "x"}).kind == Classified::Kind::kPass);
  CHECK(run(set, {"SET", "ro:1", "x"}).kind == Classified::Kind::kPass);
  CHECK(run(set, {"GET", "item:1"}, false).kind == Classified::Kind::kPass);
  CHECK(run(set, {"DEL", "a", "b"}).kind == Classified::Kind::kPass);
}

TEST_CASE("unmappable writes answer a clear error", "[write][commands]") {
  const cache::PolicySet set(policies());
  auto c = run(set, {"LPUSH", "item:1", "x"});
  REQUIRE(c.kind == Classified::Kind::kError);
  CHECK(c.error ==
        "ERR LPUSH cannot be written to the database on key of policy 'items' (mapping column, "
        "write mode set): only SET, INCR, INCRBY, DECR, DECRBY and DEL map to the row");
  CHECK(run(set, {"SET", "item:1", "x", "EX", "5"}).error.find("SET options") != std::string::npos);
  CHECK(run(set, {"SET", "user:1", "x"}).error.find("use HSET") != std::string::npos);
  CHECK(run(set, {"HSET", "item:1", "f", "v"}).error.find("use SET") != std::string::npos);
  CHECK(run(set, {"HSET", "user:1", "plan", "pro"}).error ==
        "ERR field 'plan' is not a column of policy 'users'");
  CHECK(run(set, {"HSET", "user:1", "id", "9"}).error ==
        "ERR field 'id' is the key column of policy 'users' and cannot be written");
}

TEST_CASE("HSET, HMSET and HINCRBY on a hash policy key", "[write][commands]") {
  const cache::PolicySet set(policies());
  auto c = run(set, {"HMSET", "user:3", "name", "ann", "email", "a@x"});
  REQUIRE(c.kind == Classified::Kind::kWrite);
  CHECK(c.writes[0].op == Op::kHset);
  REQUIRE(c.writes[0].fields.size() == 2);
  CHECK(c.writes[0].fields[1].second == "a@x");
  c = run(set, {"HINCRBY", "user:3", "name", "2"});
  REQUIRE(c.kind == Classified::Kind::kWrite);
  CHECK(c.writes[0].field == "name");
  CHECK(c.writes[0].delta == 2);
}

TEST_CASE("DEL mixes policy keys and plain keys", "[write][commands]") {
  const cache::PolicySet set(policies());
  auto c = run(set, {"UNLINK", "item:1", "plain", "user:2", "ro:3"});
  REQUIRE(c.kind == Classified::Kind::kWrite);
  CHECK(c.unlink);
  REQUIRE(c.writes.size() == 2);
  CHECK(c.writes[0].id == "1");
  CHECK(c.writes[1].id == "2");
  CHECK(c.plain_keys == std::vector<std::string>{"plain", "ro:3"});
}

}  // namespace
}  // namespace sidecache::write
