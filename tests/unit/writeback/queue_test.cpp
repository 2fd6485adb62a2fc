// The pure parts of flushing: stream entries, batch planning (coalescing, order), backoff.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "writeback/queue.hpp"

namespace sidecache::writeback {
namespace {

using namespace std::chrono_literals;

Entry set(std::string id, std::string v) {
  Entry e;
  e.key = "k:" + id;
  e.policy = "p";
  e.id = std::move(id);
  e.op = Entry::Op::kSet;
  e.value = std::move(v);
  return e;
}

Entry hset(std::string id, std::vector<std::pair<std::string, std::string>> fields) {
  Entry e = set(std::move(id), "");
  e.op = Entry::Op::kHset;
  e.fields = std::move(fields);
  return e;
}

Entry del(std::string id) {
  Entry e = set(std::move(id), "");
  e.op = Entry::Op::kDel;
  return e;
}

std::vector<const Entry*> ptrs(const std::vector<Entry>& v) {
  std::vector<const Entry*> out;
  for (const auto& e : v) out.push_back(&e);
  return out;
}

TEST_CASE("stream entries parse; foreign ones do not", "[writeback][queue]") {
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"k", "user:1"}, {"p", "users"}, {"id", "1"}, {"op", "hset"}, {"f:name", "ann"}};
  const auto e = parse_entry("1-0", fields);
  REQUIRE(e.has_value());
  CHECK(e->key == "user:1");
  CHECK(e->policy == "users");
  CHECK(e->op == Entry::Op::kHset);
  REQUIRE(e->fields.size() == 1);
  CHECK(e->fields[0] == std::pair<std::string, std::string>{"name", "ann"});
  const std::vector<std::pair<std::string, std::string>> junk = {{"x", "y"}};
  CHECK_FALSE(parse_entry("2-0", junk).has_value());
  const std::vector<std::pair<std::string, std::string>> bad_op = {
      {"k", "a"}, {"p", "p"}, {"op", "lpush"}};
  CHECK_FALSE(parse_entry("3-0", bad_op).has_value());
}

using Fields = std::vector<std::pair<std::string, std::string>>;

TEST_CASE("a batch entry holds several writes, in order", "[writeback][queue]") {
  const Fields fields = {{"n", "3"},     {"k", "user:1"}, {"p", "users"},  {"id", "1"},
                         {"op", "hset"}, {"f:name", "a"}, {"k", "user:2"}, {"p", "users"},
                         {"id", "2"},    {"op", "del"},   {"k", "kv:9"},   {"p", "kv"},
                         {"id", "9"},    {"op", "set"},   {"v", "x"}};
  std::vector<Entry> out;
  const StreamEntry se = parse_stream_entry("5-0", fields, out);
  CHECK(se.id == "5-0");
  CHECK(se.writes == 3);
  CHECK(se.counted == 3);
  REQUIRE(out.size() == 3);
  CHECK(out[0].key == "user:1");
  CHECK(out[0].op == Entry::Op::kHset);
  CHECK(out[0].fields == Fields{{"name", "a"}});
  CHECK(out[1].op == Entry::Op::kDel);
  CHECK(out[2].value == "x");
  for (std::uint32_t i = 0; i < 3; ++i) {
    CHECK(out[i].part == i);
    CHECK(out[i].stream_id == "5-0");
  }
}

TEST_CASE("a batch entry of plain SETs: policy and id of each in m", "[writeback][queue]") {
  const Fields fields = {
      {"n", "2"}, {"m", "5:items1:12:kv3:a:b"}, {"item:1", "one"}, {"kv:a:b", "v"}};
  std::vector<Entry> out;
  const StreamEntry se = parse_stream_entry("6-0", fields, out);
  CHECK(se.writes == 2);
  CHECK(se.counted == 2);
  REQUIRE(out.size() == 2);
  CHECK(out[0].key == "item:1");
  CHECK(out[0].policy == "items");
  CHECK(out[0].id == "1");
  CHECK(out[0].value == "one");
  CHECK(out[0].op == Entry::Op::kSet);
  CHECK(out[1].policy == "kv");
  CHECK(out[1].id == "a:b");
  CHECK(out[1].part == 1);
  // A meta field that does not parse: the writes it cannot name are left out.
  std::vector<Entry> bad;
  const Fields broken = {{"n", "2"}, {"m", "5:items1:199:x"}, {"item:1", "one"}, {"item:2", "t"}};
  CHECK(parse_stream_entry("7-0", broken, bad).writes == 1);
  CHECK(bad.size() == 1);
  const Fields empty_policy = {{"n", "1"}, {"m", "0:1:1"}, {"item:1", "one"}};
  CHECK(parse_stream_entry("8-0", empty_policy, bad).writes == 0);
}

TEST_CASE("an entry of the previous layout is a batch of one, not counted", "[writeback][queue]") {
  const Fields fields = {{"k", "kv:1"}, {"p", "kv"}, {"id", "1"}, {"op", "set"}, {"v", "x"}};
  std::vector<Entry> out;
  const StreamEntry se = parse_stream_entry("1-0", fields, out);
  CHECK(se.writes == 1);
  CHECK(se.counted == 0);
  REQUIRE(out.size() == 1);
  CHECK(out[0].value == "x");
  const Fields junk = {{"x", "y"}};
  CHECK(parse_stream_entry("2-0", junk, out).writes == 0);
  CHECK(out.size() == 1);
}

TEST_CASE("coalescing keeps the last value of each key, in first-seen order",
          "[writeback][queue]") {
  const std::vector<Entry> entries = {set("1", "a"), set("2", "b"), set("1", "c"), set("1", "d")};
  const auto plan = plan_writes(ptrs(entries), "v", true);
  REQUIRE(plan.steps.size() == 1);
  const auto& ups = plan.steps[0].upserts;
  REQUIRE(ups.size() == 2);
  CHECK(ups[0].key == "1");
  CHECK(ups[0].values.at(0).second == "d");
  CHECK(ups[1].key == "2");
  CHECK(plan.coalesced == 2);
}

TEST_CASE("coalescing merges hash fields and lets a delete win", "[writeback][queue]") {
  const std::vector<Entry> entries = {hset("1", {{"name", "ann"}}), hset("1", {{"email", "a@x"}}),
                                      hset("1", {{"name", "anna"}}), set("2", "x"), del("2")};
  const auto plan = plan_writes(ptrs(entries), "", true);
  REQUIRE(plan.steps.size() == 1);
  REQUIRE(plan.steps[0].upserts.size() == 1);
  const auto& v = plan.steps[0].upserts[0].values;
  REQUIRE(v.size() == 2);
  CHECK(v[0] == std::pair<std::string, std::optional<std::string>>{"name", "anna"});
  CHECK(v[1] == std::pair<std::string, std::optional<std::string>>{"email", "a@x"});
  CHECK(plan.steps[0].deletes == std::vector<std::string>{"2"});
}

TEST_CASE("a set after a delete upserts again", "[writeback][queue]") {
  const std::vector<Entry> entries = {del("1"), set("1", "back")};
  const auto plan = plan_writes(ptrs(entries), "v", true);
  REQUIRE(plan.steps.size() == 1);
  CHECK(plan.steps[0].deletes.empty());
  REQUIRE(plan.steps[0].upserts.size() == 1);
  CHECK(plan.steps[0].upserts[0].values[0].second == "back");
}

TEST_CASE("without coalescing every entry is written, in order", "[writeback][queue]") {
  const std::vector<Entry> entries = {set("1", "a"), set("1", "b"), del("1"), set("1", "c")};
  const auto plan = plan_writes(ptrs(entries), "v", false);
  // upserts of a step run before its deletes: the set after the delete needs a new step.
  REQUIRE(plan.steps.size() == 2);
  REQUIRE(plan.steps[0].upserts.size() == 2);
  CHECK(plan.steps[0].upserts[0].values[0].second == "a");
  CHECK(plan.steps[0].upserts[1].values[0].second == "b");
  CHECK(plan.steps[0].deletes == std::vector<std::string>{"1"});
  REQUIRE(plan.steps[1].upserts.size() == 1);
  CHECK(plan.steps[1].upserts[0].values[0].second == "c");
  CHECK(plan.coalesced == 0);
}

TEST_CASE("backoff doubles with jitter up to the cap", "[writeback][queue]") {
  CHECK(backoff(100ms, 10s, 0, 1.0) == 100ms);
  CHECK(backoff(100ms, 10s, 0, 0.0) == 50ms);
  CHECK(backoff(100ms, 10s, 3, 1.0) == 800ms);
  CHECK(backoff(100ms, 10s, 20, 1.0) == 10s);
  CHECK(backoff(100ms, 10s, 1000, 0.0) == 5s);
  const auto mid = backoff(100ms, 10s, 2, 0.5);
  CHECK(mid >= 200ms);
  CHECK(mid <= 400ms);
}

TEST_CASE("json sets become columns, merged when coalesced", "[writeback][queue]") {
  const JsonSet json{"id"};
  const std::vector<Entry> entries = {set("1", R"({"id":"1","name":"ann","n":1})"),
                                      set("1", R"({"n":2,"plan":null})"), set("2", R"({"a":1})"),
                                      del("2")};
  auto plan = plan_writes(ptrs(entries), "", true, &json);
  REQUIRE(plan.steps.size() == 1);
  REQUIRE(plan.steps[0].upserts.size() == 1);
  const auto& v = plan.steps[0].upserts[0].values;
  using CV = std::pair<std::string, std::optional<std::string>>;
  REQUIRE(v.size() == 3);
  CHECK(v[0] == CV{"name", "ann"});
  CHECK(v[1] == CV{"n", "2"});
  CHECK(v[2] == CV{"plan", std::nullopt});
  CHECK(plan.steps[0].deletes == std::vector<std::string>{"2"});
  plan = plan_writes(ptrs(entries), "", false, &json);
  REQUIRE(plan.steps.size() == 1);
  REQUIRE(plan.steps[0].upserts.size() == 3);
  CHECK(plan.steps[0].upserts[1].values.size() == 2);
}

}  // namespace
}  // namespace sidecache::writeback
