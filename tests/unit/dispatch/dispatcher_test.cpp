// The dispatcher against a fake set of nodes: what is sent where, and what the client gets.
#include "dispatch/dispatcher.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dispatch/local_commands.hpp"
#include "resp/writer.hpp"

using namespace sidecache;

namespace {

// Nodes whose key placement the test sets; requests are recorded and answered on demand.
class FakeNodes final : public backend::NodeSender {
 public:
  explicit FakeNodes(std::uint32_t count) : count_(count) {}
  struct Sent {
    std::uint32_t node;
    std::string request;
    backend::ReplyTarget target;
  };
  std::map<std::string, std::uint32_t, std::less<>> placement;
  std::vector<Sent> sent;

  std::uint32_t node_count() const override { return count_; }
  std::uint32_t node_for_key(std::string_view key) const override {
    auto it = placement.find(key);
    return it == placement.end() ? 0 : it->second;
  }
  void send(std::uint32_t node, std::string_view request, backend::ReplyTarget target) override {
    sent.push_back({node, std::string(request), std::move(target)});
  }
  void answer(std::size_t i, std::string_view reply) { sent.at(i).target.deliver(reply); }
  const std::string& node_name(std::uint32_t) const override { return name_; }

 private:
  std::uint32_t count_;
  std::string name_ = "fake";
};

class Recorder final : public backend::ReplySink {
 public:
  std::map<std::uint64_t, std::string> replies;
  void on_reply(std::uint64_t tag, std::string_view reply) override {
    replies[tag] = std::string(reply);
  }
};

std::string encode(std::vector<std::string_view> args) {
  std::string out;
  resp::append_command(out, args);
  return out;
}

struct Fixture {
  FakeNodes nodes{3};
  dispatch::ProcessState process;
  dispatch::WorkerStats stats{resp::CommandTable::id_count()};
  dispatch::Dispatcher dispatcher{nodes, process, stats};
  dispatch::ClientState client;
  std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
  std::uint64_t next_tag = 0;

  Fixture() {
    auto cfg = std::make_shared<config::Config>();
    cfg->pool.nodes.push_back({"a", {"127.0.0.1", 7001}, 1});
    process.config = cfg;
  }

  // Dispatches a request given as arguments; returns its tag.
  std::uint64_t run(std::vector<std::string_view> args, bool inline_form = false) {
    resp::Command command;
    command.args = args;
    command.inline_form = inline_form;
    const std::string raw = inline_form ? std::string() : encode(args);
    const std::uint64_t tag = next_tag++;
    dispatcher.dispatch(command, raw, client, backend::ReplyTarget{recorder, tag});
    return tag;
  }
  std::string reply(std::uint64_t tag) {
    auto it = recorder->replies.find(tag);
    return it == recorder->replies.end() ? std::string("<none>") : it->second;
  }
};

}  // namespace

TEST_CASE("single-key commands go to the key's node as the client's bytes") {
  Fixture f;
  f.nodes.placement["user:1"] = 2;
  const auto tag = f.run({"GET", "user:1"});
  REQUIRE(f.nodes.sent.size() == 1);
  CHECK(f.nodes.sent[0].node == 2);
  CHECK(f.nodes.sent[0].request == encode({"GET", "user:1"}));
  f.nodes.answer(0, "$3\r\nbob\r\n");
  CHECK(f.reply(tag) == "$3\r\nbob\r\n");
}

TEST_CASE("inline requests are re-encoded before forwarding") {
  Fixture f;
  f.run({"set", "k", "v"}, /*inline_form=*/true);
  REQUIRE(f.nodes.sent.size() == 1);
  CHECK(f.nodes.sent[0].request == encode({"set", "k", "v"}));
}

TEST_CASE("MGET splits by node and merges in the client's key order") {
  Fixture f;
  f.nodes.placement = {{"a", 0}, {"b", 1}, {"c", 0}, {"d", 2}};
  const auto tag = f.run({"MGET", "a", "b", "c", "d"});
  REQUIRE(f.nodes.sent.size() == 3);
  CHECK(f.nodes.sent[0].node == 0);
  CHECK(f.nodes.sent[0].request == encode({"MGET", "a", "c"}));
  CHECK(f.nodes.sent[1].request == encode({"MGET", "b"}));
  CHECK(f.nodes.sent[2].request == encode({"MGET", "d"}));
  // Replies arrive in any order; the client's reply waits for all.
  f.nodes.answer(2, "*1\r\n$1\r\nD\r\n");
  f.nodes.answer(1, "*1\r\n$-1\r\n");
  CHECK(f.reply(tag) == "<none>");
  f.nodes.answer(0, "*2\r\n$1\r\nA\r\n$1\r\nC\r\n");
  CHECK(f.reply(tag) == "*4\r\n$1\r\nA\r\n$-1\r\n$1\r\nC\r\n$1\r\nD\r\n");
}

TEST_CASE("a multi-key command whose keys share a node is forwarded unchanged") {
  Fixture f;
  f.nodes.placement = {{"x", 1}, {"y", 1}};
  f.run({"MGET", "x", "y"});
  REQUIRE(f.nodes.sent.size() == 1);
  CHECK(f.nodes.sent[0].node == 1);
  CHECK(f.nodes.sent[0].request == encode({"MGET", "x", "y"}));
}

TEST_CASE("MSET splits key/value pairs; any failed part fails the request") {
  Fixture f;
  f.nodes.placement = {{"k1", 0}, {"k2", 1}};
  auto tag = f.run({"MSET", "k1", "v1", "k2", "v2"});
  REQUIRE(f.nodes.sent.size() == 2);
  CHECK(f.nodes.sent[0].request == encode({"MSET", "k1", "v1"}));
  CHECK(f.nodes.sent[1].request == encode({"MSET", "k2", "v2"}));
  f.nodes.answer(0, "+OK\r\n");
  f.nodes.answer(1, "+OK\r\n");
  CHECK(f.reply(tag) == "+OK\r\n");

  tag = f.run({"MSET", "k1", "v1", "k2", "v2"});
  f.nodes.answer(2, "+OK\r\n");
  f.nodes.answer(3, "-ERR backend 'b' is unavailable\r\n");
  CHECK(f.reply(tag) == "-ERR backend 'b' is unavailable\r\n");
}

TEST_CASE("MSET with an odd number of arguments is an arity error, nothing sent") {
  Fixture f;
  const auto tag = f.run({"MSET", "k1", "v1", "k2"});
  CHECK(f.nodes.sent.empty());
  CHECK(f.reply(tag) == "-ERR wrong number of arguments for 'mset' command\r\n");
}

TEST_CASE("DEL, EXISTS, UNLINK and TOUCH sum the counts of their parts") {
  for (const char* name : {"DEL", "EXISTS", "UNLINK", "TOUCH"}) {
    Fixture f;
    f.nodes.placement = {{"a", 0}, {"b", 1}, {"c", 2}};
    const auto tag = f.run({name, "a", "b", "c", "a"});
    REQUIRE(f.nodes.sent.size() == 3);
    CHECK(f.nodes.sent[0].request == encode({name, "a", "a"}));
    f.nodes.answer(0, ":2\r\n");
    f.nodes.answer(1, ":0\r\n");
    f.nodes.answer(2, ":1\r\n");
    CHECK(f.reply(tag) == ":3\r\n");
  }
}

TEST_CASE("multi-key commands that cannot be split need one node") {
  Fixture f;
  f.nodes.placement = {{"src", 0}, {"dst", 1}, {"{t}a", 2}, {"{t}b", 2}};
  auto tag = f.run({"RENAME", "src", "dst"});
  CHECK(f.reply(tag) == "-CROSSSLOT Keys in request don't hash to the same node\r\n");
  CHECK(f.nodes.sent.empty());
  f.run({"SINTER", "{t}a", "{t}b"});
  REQUIRE(f.nodes.sent.size() == 1);
  CHECK(f.nodes.sent[0].node == 2);
}

TEST_CASE("EVAL routes by its keys; numkeys 0 goes to a deterministic node") {
  Fixture f;
  f.nodes.placement = {{"k1", 1}, {"k2", 2}, {"return 1", 2}};
  f.run({"EVAL", "return 1", "1", "k1"});
  REQUIRE(f.nodes.sent.size() == 1);
  CHECK(f.nodes.sent[0].node == 1);
  auto tag = f.run({"EVAL", "return 1", "2", "k1", "k2"});
  CHECK(f.reply(tag) == "-CROSSSLOT Keys in request don't hash to the same node\r\n");
  f.run({"EVAL", "return 1", "0"});
  REQUIRE(f.nodes.sent.size() == 2);
  CHECK(f.nodes.sent[1].node == 2);
  tag = f.run({"EVAL", "return 1", "5", "k1"});
  CHECK(f.reply(tag).rfind("-ERR", 0) == 0);
  CHECK(f.nodes.sent.size() == 2);
}

TEST_CASE("unknown, rejected and unsupported commands get clear errors") {
  Fixture f;
  CHECK(f.reply(f.run({"NOSUCH", "a", "b"})) ==
        "-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n");
  CHECK(f.reply(f.run({"GET"})) == "-ERR wrong number of arguments for 'get' command\r\n");
  CHECK(f.reply(f.run({"CONFIG", "NOPE"})) ==
        "-ERR unknown subcommand 'NOPE'. Try CONFIG HELP.\r\n");
  const std::string keys = f.reply(f.run({"KEYS", "*"}));
  CHECK(keys.rfind("-ERR 'keys' is not allowed through sidecache: ", 0) == 0);
  CHECK(f.nodes.sent.empty());
}

TEST_CASE("session commands are left to the session, unanswered") {
  Fixture f;
  // Blocking commands, transactions and Pub/Sub run on the session's own node connections.
  for (const auto& args : std::vector<std::vector<std::string_view>>{
           {"BLPOP", "q", "0"},
           {"XREAD", "BLOCK", "0", "STREAMS", "s", "$"},
           {"XREADGROUP", "GROUP", "g", "c", "BLOCK", "5", "STREAMS", "s", ">"},
           {"MULTI"},
           {"SUBSCRIBE", "ch"},
           {"PUBSUB", "NUMPAT"}}) {
    resp::Command command;
    command.args = args;
    const std::string raw = encode(args);
    const auto done =
        f.dispatcher.dispatch(command, raw, f.client, backend::ReplyTarget{f.recorder, f.next_tag});
    CHECK(done.session);
    CHECK(done.info != nullptr);
    CHECK(f.reply(f.next_tag++) == "<none>");
  }
  CHECK(f.nodes.sent.empty());
  CHECK(f.reply(f.run({"BLPOP", "q"})) ==  // arity is still the dispatcher's
        "-ERR wrong number of arguments for 'blpop' command\r\n");
  f.run({"XREAD", "COUNT", "1", "STREAMS", "s", "0"});
  CHECK(f.nodes.sent.size() == 1);
}

TEST_CASE("broadcast commands reach every node and combine") {
  Fixture f;
  auto tag = f.run({"DBSIZE"});
  REQUIRE(f.nodes.sent.size() == 3);
  f.nodes.answer(0, ":5\r\n");
  f.nodes.answer(1, ":7\r\n");
  f.nodes.answer(2, ":0\r\n");
  CHECK(f.reply(tag) == ":12\r\n");

  tag = f.run({"SCRIPT", "EXISTS", "sha1", "sha2"});
  f.nodes.answer(3, "*2\r\n:1\r\n:1\r\n");
  f.nodes.answer(4, "*2\r\n:1\r\n:0\r\n");
  f.nodes.answer(5, "*2\r\n:1\r\n:1\r\n");
  CHECK(f.reply(tag) == "*2\r\n:1\r\n:0\r\n");

  tag = f.run({"SCRIPT", "LOAD", "return 1"});
  for (std::size_t i = 6; i < 9; ++i) f.nodes.answer(i, "$3\r\nabc\r\n");
  CHECK(f.reply(tag) == "$3\r\nabc\r\n");
}

TEST_CASE("local commands: the connection handshake real clients send") {
  Fixture f;
  CHECK(f.reply(f.run({"PING"})) == "+PONG\r\n");
  CHECK(f.reply(f.run({"PING", "hi"})) == "$2\r\nhi\r\n");
  CHECK(f.reply(f.run({"ECHO", "x"})) == "$1\r\nx\r\n");
  CHECK(f.reply(f.run({"SELECT", "0"})) == "+OK\r\n");
  CHECK(f.reply(f.run({"SELECT", "1"})).rfind("-ERR", 0) == 0);
  const std::string hello3 = f.reply(f.run({"HELLO", "3"}));
  CHECK(hello3.rfind("-NOPROTO", 0) == 0);
  const std::string hello2 = f.reply(f.run({"HELLO", "2", "SETNAME", "app"}));
  CHECK(hello2.rfind("*14\r\n$6\r\nserver\r\n", 0) == 0);
  CHECK(f.client.name == "app");
  CHECK(f.reply(f.run({"CLIENT", "GETNAME"})) == "$3\r\napp\r\n");
  CHECK(f.reply(f.run({"CLIENT", "SETNAME", "has space"})).rfind("-ERR", 0) == 0);
  CHECK(f.reply(f.run({"CONFIG", "GET", "save"})) == "*0\r\n");
  CHECK(f.reply(f.run({"INFO"})).find("loading:0\r\n") != std::string::npos);
  CHECK(f.reply(f.run({"AUTH", "default", "x"})) == "+OK\r\n");
  CHECK(f.reply(f.run({"QUIT"})) == "+OK\r\n");
  CHECK(f.client.quit);
  CHECK(f.nodes.sent.empty());
}

TEST_CASE("every command the table answers locally has a handler") {
  for (const auto& info : resp::CommandTable::instance().all()) {
    if (info.routing == resp::Routing::kLocal && info.subcommands.empty()) {
      INFO(info.name);
      CHECK(dispatch::has_local_handler(info.name));
    }
    for (const auto& sub : info.subcommands) {
      if (sub.routing == resp::Routing::kLocal) {
        INFO(sub.name);
        CHECK(dispatch::has_local_handler(sub.name));
      }
    }
  }
}
