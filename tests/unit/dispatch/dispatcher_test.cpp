// The dispatcher against a fake set of nodes: what is sent where, and what the client gets.
#include "dispatch/dispatcher.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dispatch/keyspace.hpp"
#include "dispatch/local_commands.hpp"
#include "dispatch/scripts.hpp"
#include "resp/writer.hpp"

using namespace sidecache;

namespace {

// Nodes whose key placement the test sets; requests are recorded and answered on demand.
class FakeNodes final : public NodeSender {
 public:
  explicit FakeNodes(std::uint32_t count) : count_(count) {}
  struct Sent {
    std::uint32_t node;
    std::string request;
    ReplyTarget target;
    bool read = false;  // sent with send_read (may go to a replica)
  };
  std::map<std::string, std::uint32_t, std::less<>> placement;
  std::vector<Sent> sent;

  std::uint32_t node_count() const override { return count_; }
  std::uint32_t node_for_key(std::string_view key) const override {
    auto it = placement.find(key);
    return it == placement.end() ? 0 : it->second;
  }
  void send(std::uint32_t node, std::string_view request, ReplyTarget target) override {
    sent.push_back({node, std::string(request), std::move(target)});
  }
  void send_read(std::uint32_t node, std::string_view request, ReplyTarget target) override {
    sent.push_back({node, std::string(request), std::move(target), true});
  }
  void answer(std::size_t i, std::string_view reply) { sent.at(i).target.deliver(reply); }
  const std::string& node_name(std::uint32_t) const override { return name_; }

 private:
  std::uint32_t count_;
  std::string name_ = "fake";
};

class Recorder final : public ReplySink {
 public:
  std::map<std::uint64_t, std::string> replies;
  std::int64_t held = 0;  // bytes merges hold for this client now
  bool is_gone = false;
  void on_reply(std::uint64_t tag, std::string_view reply) override {
    replies[tag] = std::string(reply);
  }
  void hold(std::int64_t bytes) override { held += bytes; }
  bool gone() const override { return is_gone; }
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
    dispatcher.dispatch(command, raw, client, ReplyTarget{recorder, tag});
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

TEST_CASE("the parts of a split read are sent as reads, those of a split write are not") {
  Fixture f;
  f.nodes.placement = {{"a", 0}, {"b", 1}};
  for (const char* name : {"MGET", "EXISTS", "TOUCH"}) {
    f.nodes.sent.clear();
    f.run({name, "a", "b"});
    REQUIRE(f.nodes.sent.size() == 2);
    CHECK(f.nodes.sent[0].read);
    CHECK(f.nodes.sent[1].read);
  }
  for (const char* name : {"DEL", "UNLINK"}) {
    f.nodes.sent.clear();
    f.run({name, "a", "b"});
    REQUIRE(f.nodes.sent.size() == 2);
    CHECK_FALSE(f.nodes.sent[0].read);
    CHECK_FALSE(f.nodes.sent[1].read);
  }
  f.nodes.sent.clear();
  f.run({"MSET", "a", "1", "b", "2"});
  REQUIRE(f.nodes.sent.size() == 2);
  CHECK_FALSE(f.nodes.sent[0].read);
  f.nodes.sent.clear();
  f.run({"MGET", "a", "a"});  // one part: the client's bytes, still a read
  REQUIRE(f.nodes.sent.size() == 1);
  CHECK(f.nodes.sent[0].read);
}

TEST_CASE("a split command's parts count against its client until the merged reply") {
  Fixture f;
  f.nodes.placement = {{"a", 0}, {"b", 1}, {"c", 2}};
  const auto tag = f.run({"MGET", "a", "b", "c"});
  REQUIRE(f.nodes.sent.size() == 3);
  const std::string part = "*1\r\n$5\r\nvalue\r\n";
  f.nodes.answer(0, part);
  f.nodes.answer(1, part);
  CHECK(f.recorder->held == static_cast<std::int64_t>(2 * part.size()));
  f.nodes.answer(2, part);
  CHECK(f.recorder->held == 0);
  CHECK(f.reply(tag).rfind("*3\r\n", 0) == 0);

  // A client gone meanwhile: parts are dropped, nothing stays held, no reply.
  const auto late = f.run({"MGET", "a", "b", "c"});
  f.nodes.answer(3, part);
  CHECK(f.recorder->held > 0);
  f.recorder->is_gone = true;
  f.nodes.answer(4, part);
  CHECK(f.recorder->held == 0);
  f.nodes.answer(5, part);
  CHECK(f.recorder->held == 0);
  CHECK(f.reply(late) == "<none>");
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
        f.dispatcher.dispatch(command, raw, f.client, ReplyTarget{f.recorder, f.next_tag});
    CHECK(done.where.outcome == sidecache::dispatch::Outcome::kSession);
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
  CHECK(f.reply(f.run({"HELLO", "4"})) == "-NOPROTO unsupported protocol version\r\n");
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

namespace {

std::shared_ptr<config::Config> config_with(bool keys, bool flush) {
  auto cfg = std::make_shared<config::Config>();
  cfg->pool.nodes.push_back({"a", {"127.0.0.1", 7001}, 1});
  cfg->commands.allow_keys = keys;
  cfg->commands.allow_flush = flush;
  return cfg;
}

}  // namespace

TEST_CASE("HELLO 3 switches the client to RESP3: local replies and node connections follow") {
  Fixture f;
  const std::string hello3 =
      f.reply(f.run({"HELLO", "3", "AUTH", "default", "pw", "SETNAME", "c"}));
  CHECK(hello3.rfind("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n", 0) == 0);
  CHECK(hello3.find("$5\r\nproto\r\n:3\r\n") != std::string::npos);
  CHECK(f.client.protocol == 3);
  CHECK(f.client.name == "c");
  CHECK(f.stats.resp3_clients.get() == 1);
  // Without a version HELLO keeps the protocol.
  CHECK(f.reply(f.run({"HELLO"})).rfind("%7\r\n", 0) == 0);
  CHECK(f.stats.resp3_clients.get() == 1);

  CHECK(f.reply(f.run({"CONFIG", "GET", "save"})) == "%0\r\n");
  const std::string info = f.reply(f.run({"INFO"}));
  CHECK(info.rfind("=", 0) == 0);
  CHECK(info.find("\r\ntxt:# Server") != std::string::npos);
  f.run({"CLIENT", "SETNAME", ""});
  CHECK(f.reply(f.run({"CLIENT", "GETNAME"})) == "_\r\n");
  CHECK(f.reply(f.run({"COMMAND", "INFO", "nosuch"})) == "*1\r\n_\r\n");

  // Forwarded, split and broadcast requests carry the client's protocol to the pool.
  f.nodes.placement = {{"a", 0}, {"b", 1}};
  f.run({"GET", "a"});
  f.run({"MGET", "a", "b"});
  f.run({"DBSIZE"});
  REQUIRE(f.nodes.sent.size() == 6);
  for (const auto& sent : f.nodes.sent) CHECK(sent.target.protocol == 3);
  // A RESP3 MGET merges `_` nulls like RESP2 ones.
  const auto tag = f.next_tag - 2;
  f.nodes.answer(1, "*1\r\n_\r\n");
  f.nodes.answer(2, "*1\r\n$1\r\nB\r\n");
  CHECK(f.reply(tag) == "*2\r\n_\r\n$1\r\nB\r\n");

  CHECK(f.reply(f.run({"HELLO", "2"})).rfind("*14\r\n", 0) == 0);
  CHECK(f.stats.resp3_clients.get() == 0);
  f.run({"HELLO", "3"});
  CHECK(f.reply(f.run({"RESET"})) == "+RESET\r\n");
  CHECK(f.client.protocol == 2);
  CHECK(f.stats.resp3_clients.get() == 0);
  CHECK(f.reply(f.run({"CLIENT", "GETNAME"})) == "$-1\r\n");
  f.run({"GET", "a"});
  CHECK(f.nodes.sent.back().target.protocol == 2);
}

TEST_CASE("a RESP3 client leaving without HELLO 2 is uncounted") {
  Fixture f;
  {
    dispatch::ClientState other;
    f.dispatcher.dispatch(resp::Command{{"HELLO", "3"}}, encode({"HELLO", "3"}), other,
                          ReplyTarget{f.recorder, 99});
    CHECK(f.stats.resp3_clients.get() == 1);
  }
  CHECK(f.stats.resp3_clients.get() == 0);
}

TEST_CASE("SCAN walks every node with one cursor") {
  Fixture f;
  auto tag = f.run({"SCAN", "0", "MATCH", "k*", "COUNT", "5"});
  REQUIRE(f.nodes.sent.size() == 1);
  CHECK(f.nodes.sent[0].node == 0);
  CHECK(f.nodes.sent[0].request == encode({"SCAN", "0", "MATCH", "k*", "COUNT", "5"}));
  f.nodes.answer(0, "*2\r\n$2\r\n12\r\n*1\r\n$2\r\nk1\r\n");
  CHECK(f.reply(tag) == "*2\r\n$2\r\n12\r\n*1\r\n$2\r\nk1\r\n");  // node 0: its own cursor

  tag = f.run({"SCAN", "12", "TYPE", "string"});
  CHECK(f.nodes.sent[1].node == 0);
  CHECK(f.nodes.sent[1].request == encode({"SCAN", "12", "TYPE", "string"}));
  f.nodes.answer(1, "*2\r\n$1\r\n0\r\n*0\r\n");  // node 0 done: the next starts node 1
  const std::string next = std::to_string(std::uint64_t{1} << 54);
  CHECK(f.reply(tag) == "*2\r\n$" + std::to_string(next.size()) + "\r\n" + next + "\r\n*0\r\n");

  tag = f.run({"SCAN", std::to_string((std::uint64_t{2} << 54) | 7)});
  CHECK(f.nodes.sent[2].node == 2);
  CHECK(f.nodes.sent[2].request == encode({"SCAN", "7"}));
  f.nodes.answer(2, "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nz\r\n");  // the last node done: 0
  CHECK(f.reply(tag) == "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nz\r\n");

  // Invalid cursors: not a number, or a node that does not exist.
  CHECK(f.reply(f.run({"SCAN", "abc"})) == "-ERR invalid cursor\r\n");
  CHECK(f.reply(f.run({"SCAN", "-1"})) == "-ERR invalid cursor\r\n");
  CHECK(f.reply(f.run({"SCAN", std::to_string(std::uint64_t{3} << 54)})) ==
        "-ERR invalid cursor\r\n");
  CHECK(f.nodes.sent.size() == 3);
  // Errors from the node pass through.
  tag = f.run({"SCAN", "0", "COUNT", "x"});
  f.nodes.answer(3, "-ERR value is not an integer or out of range\r\n");
  CHECK(f.reply(tag) == "-ERR value is not an integer or out of range\r\n");
}

TEST_CASE("SCAN cursor encoding") {
  using dispatch::decode_scan_cursor;
  using dispatch::next_scan_cursor;
  using dispatch::ScanCursor;
  CHECK(decode_scan_cursor("0", 3) == (ScanCursor{0, 0}));
  CHECK(decode_scan_cursor("123", 3) == (ScanCursor{0, 123}));
  const std::uint64_t node2 = std::uint64_t{2} << 54;
  CHECK(decode_scan_cursor(std::to_string(node2 + 5), 3) == (ScanCursor{2, 5}));
  CHECK(!decode_scan_cursor(std::to_string(node2), 2));
  CHECK(!decode_scan_cursor("", 3));
  CHECK(!decode_scan_cursor("1x", 3));
  CHECK(!decode_scan_cursor("18446744073709551616", 3));  // 2^64
  CHECK(next_scan_cursor(0, 9, 3) == 9u);
  CHECK(next_scan_cursor(0, 0, 3) == (std::uint64_t{1} << 54));
  CHECK(next_scan_cursor(2, 0, 3) == 0u);
  CHECK(!next_scan_cursor(1, std::uint64_t{1} << 54, 3));
  // Every cursor stays below 2^63 (signed 64-bit clients).
  CHECK((dispatch::encode_scan_cursor({511, (std::uint64_t{1} << 54) - 1}) <
         (std::uint64_t{1} << 63)));
  for (std::uint32_t node = 0; node < 512; node += 37) {
    const ScanCursor c{node, 0x3ffffu * node + 1};
    CHECK((decode_scan_cursor(std::to_string(dispatch::encode_scan_cursor(c)), 512) == c));
  }
}

TEST_CASE("KEYS and FLUSH only when enabled; RANDOMKEY picks a non-empty node") {
  Fixture f;
  const std::string keys = f.reply(f.run({"KEYS", "*"}));
  CHECK(keys.rfind("-ERR 'keys' is not allowed through sidecache: ", 0) == 0);
  CHECK(keys.find("commands.allow_keys") != std::string::npos);
  const std::string flush = f.reply(f.run({"FLUSHALL"}));
  CHECK(flush.rfind("-ERR 'flushall' is not allowed through sidecache: ", 0) == 0);
  CHECK(flush.find("commands.allow_flush") != std::string::npos);
  CHECK(f.reply(f.run({"FLUSHDB", "ASYNC"})).find("commands.allow_flush") != std::string::npos);
  CHECK(f.nodes.sent.empty());

  f.process.set_config(config_with(true, true));
  auto tag = f.run({"KEYS", "k*"});
  REQUIRE(f.nodes.sent.size() == 3);
  f.nodes.answer(0, "*1\r\n$2\r\nk1\r\n");
  f.nodes.answer(1, "*0\r\n");
  f.nodes.answer(2, "*2\r\n$2\r\nk2\r\n$2\r\nk3\r\n");
  CHECK(f.reply(tag) == "*3\r\n$2\r\nk1\r\n$2\r\nk2\r\n$2\r\nk3\r\n");

  tag = f.run({"FLUSHALL", "SYNC"});
  CHECK(f.nodes.sent[3].request == encode({"FLUSHALL", "SYNC"}));
  for (std::size_t i = 3; i < 6; ++i) f.nodes.answer(i, "+OK\r\n");
  CHECK(f.reply(tag) == "+OK\r\n");
  tag = f.run({"FLUSHDB"});
  f.nodes.answer(6, "+OK\r\n");
  f.nodes.answer(7, "-ERR node busy\r\n");
  f.nodes.answer(8, "+OK\r\n");
  CHECK(f.reply(tag) == "-ERR node busy\r\n");

  tag = f.run({"RANDOMKEY"});
  f.nodes.answer(9, "$-1\r\n");
  f.nodes.answer(10, "$1\r\nx\r\n");
  f.nodes.answer(11, "$-1\r\n");
  CHECK(f.reply(tag) == "$1\r\nx\r\n");
  tag = f.run({"RANDOMKEY"});
  for (std::size_t i = 12; i < 15; ++i) f.nodes.answer(i, "_\r\n");
  CHECK(f.reply(tag) == "_\r\n");
}

TEST_CASE("EVALSHA answered NOSCRIPT is healed with the remembered body, once") {
  Fixture f;
  const std::string body = "return 'hi'";
  const std::string sha = dispatch::sha1_hex(body);
  CHECK(dispatch::sha1_hex("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709");

  // Unknown script: NOSCRIPT passes through.
  auto tag = f.run({"EVALSHA", sha, "0"});
  f.nodes.answer(0, "-NOSCRIPT No matching script.\r\n");
  CHECK(f.reply(tag) == "-NOSCRIPT No matching script.\r\n");
  CHECK(f.stats.script_reloads.get() == 0);

  // EVAL teaches sidecache the body.
  f.run({"EVAL", body, "0"});
  CHECK(f.process.scripts.body(sha).value_or("") == body);
  CHECK(f.nodes.sent.size() == 2);

  const std::size_t first = f.nodes.sent.size();
  tag = f.run({"EVALSHA", sha, "0"});
  const std::uint32_t node = f.nodes.sent[first].node;
  f.nodes.answer(first, "-NOSCRIPT No matching script.\r\n");
  REQUIRE(f.nodes.sent.size() == first + 3);
  CHECK(f.nodes.sent[first + 1].node == node);
  CHECK(f.nodes.sent[first + 1].request == encode({"SCRIPT", "LOAD", body}));
  CHECK(f.nodes.sent[first + 2].request == encode({"EVALSHA", sha, "0"}));
  CHECK(f.reply(tag) == "<none>");
  f.nodes.answer(first + 1, "$40\r\n" + sha + "\r\n");
  f.nodes.answer(first + 2, "$2\r\nhi\r\n");
  CHECK(f.reply(tag) == "$2\r\nhi\r\n");
  CHECK(f.stats.script_reloads.get() == 1);

  // Healed once only: a second NOSCRIPT passes through.
  tag = f.run({"EVALSHA_RO", sha, "0"});
  const std::size_t second = f.nodes.sent.size() - 1;
  f.nodes.answer(second, "-NOSCRIPT No matching script.\r\n");
  f.nodes.answer(second + 2, "-NOSCRIPT No matching script.\r\n");
  CHECK(f.reply(tag) == "-NOSCRIPT No matching script.\r\n");
  CHECK(f.stats.script_reloads.get() == 2);

  // SCRIPT FLUSH through sidecache forgets; SCRIPT LOAD teaches.
  f.run({"SCRIPT", "FLUSH"});
  CHECK(!f.process.scripts.body(sha));
  f.run({"SCRIPT", "LOAD", body});
  CHECK(f.process.scripts.body(sha).value_or("") == body);
}

TEST_CASE("FUNCTION LOAD goes to every node; FUNCTION LIST to one") {
  Fixture f;
  auto tag = f.run({"FUNCTION", "LOAD", "#!lua name=lib\n..."});
  REQUIRE(f.nodes.sent.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) f.nodes.answer(i, "$3\r\nlib\r\n");
  CHECK(f.reply(tag) == "$3\r\nlib\r\n");
  tag = f.run({"FUNCTION", "DELETE", "lib"});
  f.nodes.answer(3, "+OK\r\n");
  f.nodes.answer(4, "-ERR Library not found\r\n");
  f.nodes.answer(5, "+OK\r\n");
  CHECK(f.reply(tag) == "-ERR Library not found\r\n");
  f.run({"FUNCTION", "LIST"});
  CHECK(f.nodes.sent.size() == 7);
}
