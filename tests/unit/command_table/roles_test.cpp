// The generated cache and session roles (scripts/gen_command_table.py CACHE_ROLES,
// SESSION_ROLES), checked for a few commands per role against the table.
#include <catch2/catch.hpp>
#include <string_view>

#include "resp/command_table.hpp"

using sidecache::resp::CacheRole;
using sidecache::resp::CommandInfo;
using sidecache::resp::find_command;
using sidecache::resp::is_cache_read;
using sidecache::resp::SessionRole;

namespace {

CacheRole cache_role(std::string_view name) {
  const CommandInfo* info = find_command(name);
  REQUIRE(info != nullptr);
  return info->cache_role;
}

SessionRole session_role(std::string_view name) {
  const CommandInfo* info = find_command(name);
  REQUIRE(info != nullptr);
  return info->session_role;
}

}  // namespace

TEST_CASE("find_command resolves commands and container|sub names", "[command_table][roles]") {
  REQUIRE(find_command("get") != nullptr);
  CHECK(find_command("get")->name == "get");
  REQUIRE(find_command("pubsub|numsub") != nullptr);
  CHECK(find_command("pubsub|numsub")->name == "pubsub|numsub");
  CHECK(find_command("nosuchcommand") == nullptr);
  CHECK(find_command("pubsub|nosuch") == nullptr);
  CHECK(find_command("nosuch|numsub") == nullptr);
}

TEST_CASE("cache roles: the reads the read-through engine serves", "[command_table][roles]") {
  CHECK(cache_role("get") == CacheRole::kGet);
  CHECK(cache_role("mget") == CacheRole::kMget);
  CHECK(cache_role("hget") == CacheRole::kHget);
  CHECK(cache_role("hmget") == CacheRole::kHmget);
  CHECK(cache_role("hgetall") == CacheRole::kHgetall);
  CHECK(cache_role("hexists") == CacheRole::kHexists);
  CHECK(cache_role("hlen") == CacheRole::kHlen);
  for (auto name : {"get", "mget", "hget", "hmget", "hgetall", "hexists", "hlen"}) {
    CHECK(is_cache_read(cache_role(name)));
  }
  // Reads the engine does not serve, and writes, are not cache reads.
  for (auto name : {"strlen", "getrange", "hkeys", "hvals", "set", "del", "ttl", "ping"}) {
    CHECK_FALSE(is_cache_read(cache_role(name)));
  }
}

TEST_CASE("cache roles: the writes the write modes map", "[command_table][roles]") {
  CHECK(cache_role("set") == CacheRole::kSet);
  CHECK(cache_role("mset") == CacheRole::kMset);
  CHECK(cache_role("incr") == CacheRole::kIncr);
  CHECK(cache_role("decr") == CacheRole::kDecr);
  CHECK(cache_role("incrby") == CacheRole::kIncrBy);
  CHECK(cache_role("decrby") == CacheRole::kDecrBy);
  CHECK(cache_role("hset") == CacheRole::kHset);
  CHECK(cache_role("hmset") == CacheRole::kHmset);
  CHECK(cache_role("hincrby") == CacheRole::kHincrBy);
  CHECK(cache_role("del") == CacheRole::kDel);
  CHECK(cache_role("unlink") == CacheRole::kUnlink);
  CHECK(cache_role("eval") == CacheRole::kScript);
  CHECK(cache_role("evalsha") == CacheRole::kScript);
  CHECK(cache_role("fcall") == CacheRole::kScript);
  for (auto name : {"expire", "pexpire", "expireat", "pexpireat", "persist", "touch"}) {
    CHECK(cache_role(name) == CacheRole::kTtl);
  }
  // Read-only scripts and other writes have no role (the key specs decide).
  for (auto name : {"eval_ro", "evalsha_ro", "fcall_ro", "setnx", "append", "rename", "lpush",
                    "hdel", "incrbyfloat", "msetnx", "config|get"}) {
    CHECK(cache_role(name) == CacheRole::kNone);
  }
}

TEST_CASE("session roles: transactions, modes and Pub/Sub", "[command_table][roles]") {
  CHECK(session_role("multi") == SessionRole::kMulti);
  CHECK(session_role("exec") == SessionRole::kExec);
  CHECK(session_role("discard") == SessionRole::kDiscard);
  CHECK(session_role("watch") == SessionRole::kWatch);
  CHECK(session_role("unwatch") == SessionRole::kUnwatch);
  CHECK(session_role("reset") == SessionRole::kReset);
  CHECK(session_role("quit") == SessionRole::kQuit);
  CHECK(session_role("ping") == SessionRole::kPing);
  CHECK(session_role("echo") == SessionRole::kEcho);
  CHECK(session_role("subscribe") == SessionRole::kSubscribe);
  CHECK(session_role("psubscribe") == SessionRole::kPsubscribe);
  CHECK(session_role("ssubscribe") == SessionRole::kSsubscribe);
  CHECK(session_role("unsubscribe") == SessionRole::kUnsubscribe);
  CHECK(session_role("punsubscribe") == SessionRole::kPunsubscribe);
  CHECK(session_role("sunsubscribe") == SessionRole::kSunsubscribe);
  CHECK(session_role("publish") == SessionRole::kPublish);
  CHECK(session_role("spublish") == SessionRole::kPublish);
  CHECK(session_role("pubsub|numpat") == SessionRole::kPubsubNumpat);
  CHECK(session_role("pubsub|channels") == SessionRole::kPubsubChannels);
  CHECK(session_role("pubsub|shardchannels") == SessionRole::kPubsubChannels);
  CHECK(session_role("pubsub|numsub") == SessionRole::kPubsubNumsub);
  CHECK(session_role("pubsub|shardnumsub") == SessionRole::kPubsubNumsub);
  for (auto name : {"get", "set", "blpop", "hello", "client|setname", "pubsub|help"}) {
    CHECK(session_role(name) == SessionRole::kNone);
  }
}

TEST_CASE("every command with a session role other than the local ones is routed kSession",
          "[command_table][roles]") {
  using sidecache::resp::CommandTable;
  using sidecache::resp::Routing;
  auto check = [](const CommandInfo& info) {
    switch (info.session_role) {
      case SessionRole::kNone:
      case SessionRole::kReset:
      case SessionRole::kQuit:
      case SessionRole::kPing:
      case SessionRole::kEcho:
        break;
      default:
        CHECK(info.routing == Routing::kSession);
    }
  };
  for (const auto& info : CommandTable::instance().all()) {
    check(info);
    for (const auto& sub : info.subcommands) check(sub);
  }
}
