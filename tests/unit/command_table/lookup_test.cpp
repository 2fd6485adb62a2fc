#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <string>
#include <string_view>

#include "resp/command_table.hpp"

using sidecache::resp::CommandInfo;
using sidecache::resp::CommandTable;
using sidecache::resp::Routing;

namespace {

const CommandInfo* find(std::string_view name) { return CommandTable::instance().find(name); }

const CommandInfo* find_sub(std::string_view container, std::string_view sub) {
  const CommandInfo* info = find(container);
  return info == nullptr ? nullptr : CommandTable::find_subcommand(*info, sub);
}

}  // namespace

TEST_CASE("find is case-insensitive", "[command_table]") {
  for (std::string_view name : {"get", "GET", "Get", "gEt"}) {
    const CommandInfo* info = find(name);
    REQUIRE(info != nullptr);
    CHECK(info->name == "get");
  }
  REQUIRE(find("GEORADIUSBYMEMBER_RO") != nullptr);
  CHECK(find("GEORADIUSBYMEMBER_RO")->name == "georadiusbymember_ro");
  REQUIRE(find("Restore-Asking") != nullptr);
  CHECK(find("Restore-Asking")->name == "restore-asking");
}

TEST_CASE("find rejects unknown names", "[command_table]") {
  for (std::string_view name :
       {"", "g", "gett", "ge", "get ", " get", "config|get", "CONFIG GET", "setinfo", "waitaof",
        "georadiusbymember_ro_", "averyveryveryverylongcommandname"}) {
    CHECK(find(name) == nullptr);
  }
  CHECK(find(std::string_view("get\0", 4)) == nullptr);
  // Case folding is ASCII only: 'G'+128 is not 'g'.
  const std::string odd =
      "\xC7"
      "et";
  CHECK(find(odd) == nullptr);
}

TEST_CASE("every command is found by its own name, upper-cased too", "[command_table]") {
  for (const CommandInfo& info : CommandTable::instance().all()) {
    CHECK(find(info.name) == &info);
    std::string upper(info.name);
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    CHECK(find(upper) == &info);
  }
}

TEST_CASE("arity of known commands", "[command_table]") {
  CHECK(find("get")->arity == 2);
  CHECK(find("set")->arity == -3);
  CHECK(find("mset")->arity == -3);
  CHECK(find("ping")->arity == -1);
  CHECK(find("eval")->arity == -3);
  CHECK(find("xreadgroup")->arity == -7);
  CHECK(find("get")->arity_ok(2));
  CHECK_FALSE(find("get")->arity_ok(1));
  CHECK_FALSE(find("get")->arity_ok(3));
  CHECK(find("set")->arity_ok(3));
  CHECK(find("set")->arity_ok(7));
  CHECK_FALSE(find("set")->arity_ok(2));
  CHECK(find_sub("config", "get")->arity == -3);
  CHECK(find_sub("object", "encoding")->arity == 3);
}

TEST_CASE("flags and legacy key range", "[command_table]") {
  const CommandInfo* get = find("get");
  CHECK(get->has(sidecache::resp::kFlagReadOnly));
  CHECK(get->has(sidecache::resp::kFlagFast));
  CHECK_FALSE(get->has(sidecache::resp::kFlagWrite));
  CHECK(find("set")->has(sidecache::resp::kFlagWrite));
  CHECK(find("blpop")->has(sidecache::resp::kFlagBlocking));
  CHECK(find("eval")->has(sidecache::resp::kFlagMovableKeys));
  const CommandInfo* mset = find("mset");
  CHECK(mset->first_key == 1);
  CHECK(mset->last_key == -1);
  CHECK(mset->step == 2);
  CHECK(find("ping")->first_key == 0);
}

TEST_CASE("subcommands", "[command_table]") {
  const CommandInfo* config = find("CONFIG");
  REQUIRE(config != nullptr);
  REQUIRE_FALSE(config->subcommands.empty());
  const CommandInfo* get = CommandTable::find_subcommand(*config, "GeT");
  REQUIRE(get != nullptr);
  CHECK(get->name == "config|get");
  CHECK(get->routing == Routing::kLocal);
  CHECK(find_sub("config", "set")->routing == Routing::kRejected);
  CHECK(find_sub("config", "nosuch") == nullptr);
  CHECK(find_sub("config", "") == nullptr);
  CHECK(find_sub("config", "config|get") == nullptr);
  CHECK(CommandTable::find_subcommand(*find("get"), "get") == nullptr);  // not a container

  CHECK(find_sub("client", "setname")->routing == Routing::kLocal);
  CHECK(find_sub("client", "SETINFO")->routing == Routing::kLocal);  // sidecache addition
  CHECK(find_sub("client", "tracking")->routing == Routing::kUnsupported);
  CHECK(find_sub("client", "kill")->routing == Routing::kRejected);
  CHECK(find_sub("script", "load")->routing == Routing::kBroadcast);
  CHECK(find_sub("script", "kill")->routing == Routing::kUnsupported);
  CHECK(find_sub("object", "encoding")->routing == Routing::kSingleNode);
  CHECK(find_sub("object", "help")->routing == Routing::kRejected);
  CHECK(find_sub("memory", "usage")->routing == Routing::kSingleNode);
  CHECK(find_sub("memory", "stats")->routing == Routing::kRejected);
  CHECK(find_sub("xgroup", "create")->routing == Routing::kSingleNode);
  CHECK(find_sub("function", "load")->routing == Routing::kBroadcast);
  CHECK(find_sub("function", "flush")->routing == Routing::kBroadcast);
  CHECK(find_sub("function", "list")->routing == Routing::kSingleNode);
  CHECK(find_sub("function", "kill")->routing == Routing::kUnsupported);
  CHECK(find_sub("command", "count")->routing == Routing::kLocal);
  CHECK(find_sub("cluster", "nodes")->routing == Routing::kRejected);
}

TEST_CASE("routing decisions", "[command_table]") {
  struct Case {
    std::string_view name;
    Routing routing;
  };
  const Case cases[] = {
      {"ping", Routing::kLocal},        {"hello", Routing::kLocal},
      {"command", Routing::kLocal},     {"select", Routing::kLocal},
      {"mget", Routing::kSplit},        {"mset", Routing::kSplit},
      {"del", Routing::kSplit},         {"unlink", Routing::kSplit},
      {"exists", Routing::kSplit},      {"touch", Routing::kSplit},
      {"dbsize", Routing::kBroadcast},  {"get", Routing::kSingleNode},
      {"eval", Routing::kSingleNode},   {"fcall_ro", Routing::kSingleNode},
      {"msetnx", Routing::kSingleNode}, {"rename", Routing::kSingleNode},
      {"lmove", Routing::kSingleNode},  {"zunionstore", Routing::kSingleNode},
      {"sort", Routing::kSingleNode},   {"xread", Routing::kSingleNode},
      {"multi", Routing::kSession},     {"watch", Routing::kSession},
      {"blpop", Routing::kSession},     {"bzmpop", Routing::kSession},
      {"wait", Routing::kUnsupported},  {"subscribe", Routing::kSession},
      {"spublish", Routing::kSession},  {"scan", Routing::kKeyspace},
      {"keys", Routing::kKeyspace},     {"flushall", Routing::kKeyspace},
      {"shutdown", Routing::kRejected}, {"move", Routing::kRejected},
      {"migrate", Routing::kRejected},  {"config", Routing::kRejected},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    REQUIRE(find(c.name) != nullptr);
    CHECK(find(c.name)->routing == c.routing);
  }
  CHECK(find("shutdown")->note ==
        "SHUTDOWN is an administrative command; run it on the nodes directly.");
  CHECK(find("config")->note == "CONFIG needs a subcommand.");
  CHECK(sidecache::resp::routing_name(Routing::kSingleNode) == "single-node");
}

namespace {

void check_entry(const CommandInfo& info, std::string_view container) {
  INFO(info.name);
  CHECK(info.arity != 0);
  for (char c : info.name) CHECK_FALSE((c >= 'A' && c <= 'Z'));
  if (!container.empty()) {
    CHECK(info.name.substr(0, container.size() + 1) == std::string(container) + "|");
    CHECK(info.subcommands.empty());
  }
  const bool refused = info.routing == Routing::kRejected || info.routing == Routing::kUnsupported;
  if (refused) {
    CHECK_FALSE(info.note.empty());
    CHECK(info.note.back() == '.');
  }
  if (info.routing == Routing::kSplit) CHECK_FALSE(info.key_specs.empty());
}

}  // namespace

TEST_CASE("the table covers exactly redis-server 7.0.15's commands", "[command_table]") {
  // Pinned from `COMMAND COUNT` and COMMAND INFO of redis-server 7.0.15; the generator
  // (scripts/gen_command_table.py) is the source of truth. Sidecache additions that Redis 7.0
  // lacks: the subcommand CLIENT SETINFO, and the container SIDECACHE with HOTKEYS and HELP.
  const auto all = CommandTable::instance().all();
  CHECK(all.size() == 240 + 1);
  std::size_t subcommands = 0;
  std::size_t containers = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (i > 0) CHECK(all[i - 1].name < all[i].name);
    check_entry(all[i], "");
    if (!all[i].subcommands.empty()) ++containers;
    for (std::size_t j = 0; j < all[i].subcommands.size(); ++j) {
      const auto subs = all[i].subcommands;
      if (j > 0) CHECK(subs[j - 1].name < subs[j].name);
      check_entry(subs[j], all[i].name);
      ++subcommands;
    }
  }
  CHECK(containers == 15 + 1);
  CHECK(subcommands == 126 + 1 + 2);
}

TEST_CASE("routing counts", "[command_table]") {
  std::size_t counts[8] = {};
  for (const CommandInfo& info : CommandTable::instance().all()) {
    if (info.subcommands.empty() || info.routing != Routing::kRejected) {
      ++counts[static_cast<int>(info.routing)];
    }
    for (const CommandInfo& sub : info.subcommands) ++counts[static_cast<int>(sub.routing)];
  }
  // Same numbers as docs/commands.md.
  CHECK(counts[static_cast<int>(Routing::kLocal)] == 22);  // with ACL WHOAMI, SIDECACHE *
  CHECK(counts[static_cast<int>(Routing::kSplit)] == 6);
  CHECK(counts[static_cast<int>(Routing::kBroadcast)] == 8);
  CHECK(counts[static_cast<int>(Routing::kSingleNode)] == 176);
  CHECK(counts[static_cast<int>(Routing::kSession)] == 26);
  CHECK(counts[static_cast<int>(Routing::kKeyspace)] == 5);
  CHECK(counts[static_cast<int>(Routing::kUnsupported)] == 9);
  CHECK(counts[static_cast<int>(Routing::kRejected)] == 103);
}
