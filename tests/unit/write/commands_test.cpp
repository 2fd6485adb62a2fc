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

// The snapshot of `set` (not owned) the chain would hand the writer.
std::shared_ptr<const cache::Snapshot> snapshot_of(const cache::PolicySet& set) {
  auto snap = std::make_shared<cache::Snapshot>();
  snap->set = std::shared_ptr<const cache::PolicySet>(&set, [](const cache::PolicySet*) {});
  return snap;
}

// `writes` is what the command table says (kFlagWrite); the request's command decides.
Classified run(const cache::PolicySet& set, std::vector<std::string_view> args,
               [[maybe_unused]] bool writes = true) {
  std::string name(args[0]);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const resp::CommandInfo* info = resp::find_command(name);
  REQUIRE(info != nullptr);
  REQUIRE(info->has(resp::kFlagWrite) == writes);
  const auto snap = snapshot_of(set);
  cache::ChainRequest request(*info, args, snap);
  return classify(request);
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

TEST_CASE("multi-key writes look at every key", "[write][commands]") {
  const cache::PolicySet set(policies());
  // MSET: one SET per key, the write-policy key in 2nd position included.
  auto c = run(set, {"MSET", "plain", "1", "item:2", "x", "ro:1", "y"});
  REQUIRE(c.kind == Classified::Kind::kWrite);
  REQUIRE(c.writes.size() == 1);
  CHECK(c.writes[0].key == "item:2");
  CHECK(c.writes[0].id == "2");
  CHECK(c.writes[0].op == Op::kSet);
  CHECK(c.writes[0].value == "x");
  using KV = std::pair<std::string, std::string>;
  CHECK(c.plain_sets == std::vector<KV>{{"plain", "1"}, {"ro:1", "y"}});
  CHECK(run(set, {"MSET", "plain", "1", "user:2", "x"}).error ==
        "ERR MSET cannot write key 'user:2' of hash policy 'users': use HSET on it; nothing was "
        "written");
  CHECK(run(set, {"MSET", "plain", "1", "item:2"}).kind == Classified::Kind::kPass);  // arity
  c = run(set, {"MSETNX", "a", "1", "b", "2", "user:1", "x"});
  REQUIRE(c.kind == Classified::Kind::kError);
  CHECK(c.error ==
        "ERR MSETNX changes key 'user:1' of write policy 'users' (write mode behind): a "
        "multi-key write cannot be mapped to the database; write each key with HSET (or DEL it) "
        "on its own");
  // RENAME plain -> policy key: the destination is overwritten.
  c = run(set, {"RENAME", "plain", "item:9"});
  REQUIRE(c.kind == Classified::Kind::kError);
  CHECK(c.error.find("ERR RENAME changes key 'item:9' of write policy 'items'") == 0);
  // RENAME policy -> plain: the source is deleted.
  CHECK(run(set, {"RENAMENX", "item:9", "plain"}).kind == Classified::Kind::kError);
  CHECK(run(set, {"COPY", "plain", "user:4"}).kind == Classified::Kind::kError);
  CHECK(run(set, {"LMOVE", "plain", "item:1", "LEFT", "RIGHT"}).kind == Classified::Kind::kError);
  CHECK(run(set, {"SMOVE", "item:1", "plain", "m"}).kind == Classified::Kind::kError);
  CHECK(run(set, {"BITOP", "AND", "item:1", "a", "b"}).kind == Classified::Kind::kError);
  CHECK(run(set, {"SORT", "plain", "STORE", "item:3"}).kind == Classified::Kind::kError);
  CHECK(run(set, {"ZUNIONSTORE", "item:3", "1", "z"}).kind == Classified::Kind::kError);
  // Keys a write command only reads are not written: they pass.
  CHECK(run(set, {"COPY", "item:1", "plain"}).kind == Classified::Kind::kPass);
  CHECK(run(set, {"SUNIONSTORE", "plain", "a", "item:1"}).kind == Classified::Kind::kPass);
  CHECK(run(set, {"SORT", "item:1", "STORE", "plain"}).kind == Classified::Kind::kPass);
  // Plain keys and keys of policies without a write mode pass as before.
  CHECK(run(set, {"MSET", "a", "1", "ro:1", "2"}).kind == Classified::Kind::kPass);
  CHECK(run(set, {"RENAME", "a", "b"}).kind == Classified::Kind::kPass);
  // A malformed numkeys is the normal routing's error to answer.
  CHECK(run(set, {"ZUNIONSTORE", "item:3", "x", "z"}).kind == Classified::Kind::kPass);
  // A single-key write not at args[1] still names its policy.
  CHECK(run(set, {"LMPOP", "1", "item:1", "LEFT"}).error.find("ERR LMPOP cannot be written") == 0);
}

TEST_CASE("scripts on write-policy keys are refused; TTL commands pass", "[write][commands]") {
  const cache::PolicySet set(policies());
  auto c = run(set, {"EVAL", "return 1", "2", "plain", "user:5"}, false);
  REQUIRE(c.kind == Classified::Kind::kError);
  CHECK(c.error ==
        "ERR EVAL on key 'user:5' of write policy 'users' is not allowed: a script's writes would "
        "bypass the database (write mode behind); read it with EVAL_RO / EVALSHA_RO, write it "
        "with SET / HSET / DEL outside the script");
  CHECK(run(set, {"EVALSHA", "abc", "1", "item:1"}, false).kind == Classified::Kind::kError);
  CHECK(run(set, {"FCALL", "f", "1", "item:1"}, false).error.find("FCALL_RO") != std::string::npos);
  CHECK(run(set, {"EVAL_RO", "return 1", "1", "item:1"}, false).kind == Classified::Kind::kPass);
  CHECK(run(set, {"EVAL", "return 1", "1", "plain"}, false).kind == Classified::Kind::kPass);
  CHECK(run(set, {"EVAL", "return 1", "0"}, false).kind == Classified::Kind::kPass);
  CHECK(run(set, {"EXPIRE", "item:1", "10"}).kind == Classified::Kind::kPass);
  CHECK(run(set, {"PERSIST", "user:1"}).kind == Classified::Kind::kPass);
}

TEST_CASE("inside MULTI writes to write-policy keys are refused", "[write][commands]") {
  const cache::PolicySet set(policies());
  auto refusal = [&](std::vector<std::string_view> args, bool writes = true) {
    std::string name(args[0]);
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const resp::CommandInfo* info = resp::find_command(name);
    REQUIRE(info != nullptr);
    REQUIRE(info->has(resp::kFlagWrite) == writes);
    const auto snap = snapshot_of(set);
    cache::ChainRequest request(*info, args, snap);
    return refusal_in_transaction(request);
  };
  CHECK(refusal({"SET", "item:1", "x"}) ==
        "ERR SET on key 'item:1' of write policy 'items' is not allowed inside MULTI: write "
        "modes need the database (write mode through), which a Redis transaction cannot "
        "include; send it outside MULTI");
  CHECK(refusal({"HSET", "user:1", "name", "x"}).find("write mode behind") != std::string::npos);
  CHECK(refusal({"LPUSH", "item:1", "x"}).find("ERR LPUSH cannot be written") == 0);
  CHECK(refusal({"MSET", "plain", "x", "item:2", "y"}).find("ERR MSET on key 'item:2'") == 0);
  CHECK(refusal({"SET", "plain", "x"}).empty());
  CHECK(refusal({"GET", "item:1"}, false).empty());
  CHECK(refusal({"DEL", "item:1", "plain"}).empty());  // no delete_row_on_del: a plain DEL
  auto cache = policies();
  cache.policies[0].delete_row_on_del = true;
  const cache::PolicySet deleting(cache);
  const std::vector<std::string_view> del = {"DEL", "plain", "item:1"};
  const auto snap = snapshot_of(deleting);
  cache::ChainRequest request(*resp::find_command("del"), del, snap);
  CHECK(refusal_in_transaction(request).find("ERR DEL on key 'item:1'") == 0);
}

TEST_CASE("SET on a json policy key maps the object's members to columns", "[write][commands]") {
  auto cache = policies();
  config::CachePolicy doc = cache.policies[0];
  doc.name = "docs";
  doc.match = "doc:*";
  doc.mapping = config::ValueMapping::kJson;
  doc.value_column.clear();
  doc.columns = {"title", "pages", "draft"};
  cache.policies.push_back(doc);
  doc.name = "any";
  doc.match = "any:*";
  doc.columns.clear();
  cache.policies.push_back(doc);
  const cache::PolicySet set(cache);
  auto c = run(set, {"SET", "doc:4", R"({"id":"4","title":"A","pages":12,"draft":null})"});
  REQUIRE(c.kind == Classified::Kind::kWrite);
  const auto& cols = c.writes[0].columns;
  REQUIRE(cols.size() == 3);  // the key column repeating the id is left out
  CHECK(cols[0] == std::pair<std::string, std::optional<std::string>>{"title", "A"});
  CHECK(cols[1].second == "12");
  CHECK_FALSE(cols[2].second.has_value());
  CHECK(run(set, {"SET", "any:1", R"({"whatever":true})"}).kind == Classified::Kind::kWrite);
  CHECK(run(set, {"SET", "doc:4", R"({"title":"A",})"}).error ==
        "ERR SET on key of json policy 'docs': invalid JSON at byte 13: expected a member name "
        "in double quotes");
  CHECK(run(set, {"SET", "doc:4", R"({"author":"x"})"}).error ==
        "ERR JSON member 'author' is not a column of policy 'docs'");
  CHECK(run(set, {"SET", "doc:4", R"({"id":"5","title":"x"})"}).error.find("key column") !=
        std::string::npos);
  CHECK(run(set, {"SET", "doc:4", R"({"title":{"a":}})"}).error.find("expected a value") !=
        std::string::npos);
  CHECK(run(set, {"SET", "doc:4", "{}"}).error.find("no column to write") != std::string::npos);
  CHECK(run(set, {"INCR", "doc:4"}).error.find("JSON object") != std::string::npos);
  CHECK(run(set, {"MSET", "a", "1", "doc:4", "[]"}).error ==
        "ERR MSET on key of json policy 'docs': invalid JSON at byte 0: expected '{' (the value "
        "must be a JSON object); nothing was written");
  c = run(set, {"MSET", "doc:4", R"({"title":"x"})", "doc:5", R"({"pages":1})"});
  REQUIRE(c.kind == Classified::Kind::kWrite);
  REQUIRE(c.writes.size() == 2);
  CHECK(c.writes[1].columns.at(0).first == "pages");
  CHECK(run(set, {"HSET", "doc:4", "title", "x"}).error.find("JSON object") != std::string::npos);
}

}  // namespace
}  // namespace sidecache::write
