// The keys the dispatcher counts in the worker's hot-key tracker, and SIDECACHE HOTKEYS over the
// board it publishes to.
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dispatch/dispatcher.hpp"
#include "hotkeys/board.hpp"
#include "hotkeys/tracker.hpp"
#include "resp/writer.hpp"

using namespace sidecache;
using namespace std::chrono_literals;

namespace {

class NullNodes final : public NodeSender {
 public:
  std::uint32_t node_count() const override { return 1; }
  std::uint32_t node_for_key(std::string_view) const override { return 0; }
  void send(std::uint32_t, std::string_view, ReplyTarget) override {}
  const std::string& node_name(std::uint32_t) const override { return name_; }

 private:
  std::string name_ = "null";
};

class Last final : public ReplySink {
 public:
  std::string reply;
  void on_reply(std::uint64_t, std::string_view r) override { reply = std::string(r); }
};

struct Fixture {
  NullNodes nodes;
  dispatch::ProcessState process;
  dispatch::WorkerStats stats{resp::CommandTable::id_count()};
  dispatch::Dispatcher dispatcher{nodes, process, stats};
  dispatch::ClientState client;
  std::shared_ptr<Last> sink = std::make_shared<Last>();
  hotkeys::Tracker::Clock::time_point t0 = hotkeys::Tracker::Clock::now();
  std::unique_ptr<hotkeys::Tracker> tracker;

  Fixture() {
    auto cfg = std::make_shared<config::Config>();
    cfg->pool.nodes.push_back({"a", {"127.0.0.1", 7001}, 1});
    cfg->hotkeys.enabled = true;
    cfg->hotkeys.sample = 1;
    process.config = cfg;
    process.hotkeys = std::make_shared<hotkeys::Board>(1);
    tracker = std::make_unique<hotkeys::Tracker>(cfg->hotkeys, process.hotkeys.get(), 0, t0);
    dispatcher.set_hotkeys(tracker.get());
  }
  std::string run(std::vector<std::string_view> args) {
    resp::Command command;
    command.args = args;
    std::string raw;
    resp::append_command(raw, args);
    sink->reply.clear();
    dispatcher.dispatch(command, raw, client, ReplyTarget{sink, 0});
    return sink->reply;
  }
  std::map<std::string, std::uint64_t> counts() {
    tracker->tick(t0 + 1s);
    std::map<std::string, std::uint64_t> out;
    for (const auto& k : process.hotkeys->top(100)) out[k.key] = k.count;
    return out;
  }
};

}  // namespace

TEST_CASE("every key a command names is counted, keyless and unknown commands none",
          "[dispatch][hotkeys]") {
  Fixture f;
  f.run({"GET", "a"});
  f.run({"MGET", "a", "b", "c"});
  f.run({"MSET", "b", "1", "d", "2"});  // keys at step 2: the values are not keys
  f.run({"EVAL", "return 1", "2", "e", "a", "not-a-key"});
  f.run({"ZUNIONSTORE", "dest", "2", "z1", "z2"});
  f.run({"PING"});
  f.run({"NOSUCH", "x"});
  f.run({"GET"});  // wrong arity: rejected before counting
  const std::map<std::string, std::uint64_t> want = {{"a", 3}, {"b", 2},    {"c", 1},  {"d", 1},
                                                     {"e", 1}, {"dest", 1}, {"z1", 1}, {"z2", 1}};
  CHECK(f.counts() == want);
}

TEST_CASE("SIDECACHE HOTKEYS answers from the board in both protocols", "[dispatch][hotkeys]") {
  Fixture f;
  for (int i = 0; i < 3; ++i) f.run({"GET", "hot"});
  f.run({"GET", "cold"});
  f.counts();  // publishes
  const std::string resp2 = f.run({"SIDECACHE", "HOTKEYS", "COUNT", "1"});
  CHECK(resp2 ==
        "*1\r\n*12\r\n$3\r\nkey\r\n$3\r\nhot\r\n$10\r\nkey_length\r\n:3\r\n$4\r\nhash\r\n"
        "$16\r\na9b6001cf6a6d611\r\n$4\r\nrate\r\n$4\r\n3.00\r\n$5\r\ncount\r\n:3\r\n"
        "$5\r\nerror\r\n:0\r\n");
  f.client.protocol = 3;
  const std::string resp3 = f.run({"SIDECACHE", "HOTKEYS", "COUNT", "1"});
  CHECK(resp3 ==
        "*1\r\n%6\r\n$3\r\nkey\r\n$3\r\nhot\r\n$10\r\nkey_length\r\n:3\r\n$4\r\nhash\r\n"
        "$16\r\na9b6001cf6a6d611\r\n$4\r\nrate\r\n,3.00\r\n$5\r\ncount\r\n:3\r\n"
        "$5\r\nerror\r\n:0\r\n");
  CHECK(f.run({"SIDECACHE", "HOTKEYS", "COUNT", "0"}) ==
        "-ERR COUNT must be between 1 and 10000\r\n");
  CHECK(f.run({"SIDECACHE", "HOTKEYS", "LIMIT", "3"}) == "-ERR syntax error\r\n");
}
