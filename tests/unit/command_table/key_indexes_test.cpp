#include <catch2/catch.hpp>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "resp/command_table.hpp"

using sidecache::resp::CommandInfo;
using sidecache::resp::CommandTable;

namespace {

struct Result {
  bool ok = false;
  std::vector<std::uint32_t> keys;
  std::string error;
};

// Resolves the command (and subcommand) like the dispatcher does, then extracts the keys.
Result keys_of(std::initializer_list<std::string_view> request) {
  const std::vector<std::string_view> args(request);
  const CommandInfo* info = CommandTable::instance().find(args.at(0));
  REQUIRE(info != nullptr);
  if (!info->subcommands.empty()) {
    info = CommandTable::find_subcommand(*info, args.at(1));
    REQUIRE(info != nullptr);
  }
  Result r;
  r.keys.push_back(999);  // key_indexes must clear it
  r.ok = sidecache::resp::key_indexes(*info, args, r.keys, r.error);
  return r;
}

using Keys = std::vector<std::uint32_t>;

void check_keys(std::initializer_list<std::string_view> request, const Keys& expected) {
  const Result r = keys_of(request);
  INFO(*request.begin() << " -> " << r.error);
  CHECK(r.ok);
  CHECK(r.keys == expected);
}

void check_error(std::initializer_list<std::string_view> request, std::string_view expected) {
  const Result r = keys_of(request);
  INFO(*request.begin());
  CHECK_FALSE(r.ok);
  CHECK(r.keys.empty());
  CHECK(r.error == expected);
}

}  // namespace

TEST_CASE("single-key and fixed-position commands", "[key_indexes]") {
  check_keys({"GET", "a"}, Keys{1});
  check_keys({"get", "a"}, Keys{1});
  check_keys({"SET", "a", "v", "EX", "10"}, Keys{1});
  check_keys({"PING"}, Keys{});
  check_keys({"RENAME", "a", "b"}, Keys{1, 2});
  check_keys({"SMOVE", "a", "b", "m"}, Keys{1, 2});
  check_keys({"LMOVE", "a", "b", "LEFT", "RIGHT"}, Keys{1, 2});
  check_keys({"COPY", "a", "b", "REPLACE"}, Keys{1, 2});
  check_keys({"LCS", "a", "b", "LEN"}, Keys{1, 2});
  check_keys({"OBJECT", "ENCODING", "k"}, Keys{2});
  check_keys({"object", "freq", "k"}, Keys{2});
  check_keys({"MEMORY", "USAGE", "k", "SAMPLES", "5"}, Keys{2});
  check_keys({"XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"}, Keys{2});
  check_keys({"XINFO", "STREAM", "s", "FULL"}, Keys{2});
  check_keys({"CONFIG", "GET", "maxmemory"}, Keys{});
}

TEST_CASE("ranges to the end and with steps", "[key_indexes]") {
  check_keys({"MGET", "a", "b", "c"}, Keys{1, 2, 3});
  check_keys({"DEL", "a"}, Keys{1});
  check_keys({"EXISTS", "a", "a"}, Keys{1, 2});
  check_keys({"MSET", "a", "1", "b", "2", "c", "3"}, Keys{1, 3, 5});
  check_keys({"MSETNX", "a", "1", "b", "2"}, Keys{1, 3});
  check_keys({"MSET", "a", "1", "b"}, Keys{1, 3});   // odd count: the arity error is Redis's
  check_keys({"BLPOP", "a", "b", "0"}, Keys{1, 2});  // lastkey -2: the timeout is not a key
  check_keys({"SINTER", "a", "b"}, Keys{1, 2});
  check_keys({"SINTERSTORE", "d", "a", "b"}, Keys{1, 2, 3});
  check_keys({"BITOP", "AND", "d", "a", "b"}, Keys{2, 3, 4});
  check_keys({"PFMERGE", "d", "a"}, Keys{1, 2});
  check_keys({"PFMERGE", "d"}, Keys{1});
}

TEST_CASE("numkeys: scripts and functions", "[key_indexes]") {
  check_keys({"EVAL", "return 1", "0"}, Keys{});
  check_keys({"EVAL", "return 1", "0", "arg"}, Keys{});
  check_keys({"EVAL", "return 1", "2", "a", "b", "arg"}, Keys{3, 4});
  check_keys({"EVALSHA", "abc", "1", "a"}, Keys{3});
  check_keys({"EVAL_RO", "s", "2", "a", "b"}, Keys{3, 4});
  check_keys({"FCALL", "f", "1", "a", "x"}, Keys{3});
  check_keys({"FCALL_RO", "f", "0"}, Keys{});
  check_error({"EVAL", "", "5", "a"}, "ERR Number of keys can't be greater than number of args");
  check_error({"EVAL", "", "-1", "a"}, "ERR Number of keys can't be negative");
  check_error({"EVAL", "", "x", "a"}, "ERR value is not an integer or out of range");
  check_error({"EVAL", "", "05", "a"}, "ERR value is not an integer or out of range");
  check_error({"EVAL", "", "+1", "a"}, "ERR value is not an integer or out of range");
  check_error({"EVAL", "", " 1", "a"}, "ERR value is not an integer or out of range");
  check_error({"EVAL", "", "", "a"}, "ERR value is not an integer or out of range");
  check_error({"EVAL", "", "99999999999999999999", "a"},
              "ERR value is not an integer or out of range");
  check_error({"EVAL", "", "9223372036854775807", "a"},
              "ERR Number of keys can't be greater than number of args");
  check_error({"EVAL", "", "-9223372036854775808", "a"}, "ERR Number of keys can't be negative");
  check_error({"FCALL", "f", "x", "a"}, "ERR Bad number of keys provided");
  check_error({"FCALL_RO", "f", "-1"}, "ERR Number of keys can't be negative");
  check_error({"FCALL", "f", "2", "a"}, "ERR Number of keys can't be greater than number of args");
}

TEST_CASE("numkeys: sorted-set families", "[key_indexes]") {
  check_keys({"ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"}, Keys{1, 3, 4});
  check_keys({"ZINTERSTORE", "d", "1", "a"}, Keys{1, 3});
  check_keys({"ZDIFFSTORE", "d", "2", "a", "b"}, Keys{1, 3, 4});
  check_keys({"ZUNION", "2", "a", "b", "WITHSCORES"}, Keys{2, 3});
  check_keys({"ZINTERCARD", "2", "a", "b", "LIMIT", "10"}, Keys{2, 3});
  check_keys({"ZINTERCARD", "1", "a"}, Keys{2});
  check_error({"ZUNIONSTORE", "d", "0", "a"},
              "ERR at least 1 input key is needed for 'zunionstore' command");
  check_error({"ZUNIONSTORE", "d", "-1", "a"},
              "ERR at least 1 input key is needed for 'zunionstore' command");
  check_error({"ZUNIONSTORE", "d", "3", "a"}, "ERR syntax error");
  check_error({"ZUNIONSTORE", "d", "x", "a"}, "ERR value is not an integer or out of range");
  check_error({"ZINTERCARD", "0", "a"},
              "ERR at least 1 input key is needed for 'zintercard' command");
  check_error({"ZINTERCARD", "3", "a"}, "ERR syntax error");
  check_error({"ZDIFF", "2", "a"}, "ERR syntax error");
}

TEST_CASE("numkeys: SINTERCARD and the MPOP family", "[key_indexes]") {
  check_keys({"SINTERCARD", "2", "a", "b"}, Keys{2, 3});
  check_keys({"SINTERCARD", "1", "a", "LIMIT", "5"}, Keys{2});
  check_error({"SINTERCARD", "3", "a"}, "ERR Number of keys can't be greater than number of args");
  check_error({"SINTERCARD", "0", "a"}, "ERR numkeys should be greater than 0");
  check_error({"SINTERCARD", "x", "a"}, "ERR numkeys should be greater than 0");
  check_keys({"LMPOP", "2", "a", "b", "LEFT", "COUNT", "3"}, Keys{2, 3});
  check_keys({"ZMPOP", "1", "a", "MIN"}, Keys{2});
  check_keys({"BLMPOP", "0", "2", "a", "b", "RIGHT"}, Keys{3, 4});
  check_keys({"BZMPOP", "1.5", "1", "a", "MAX"}, Keys{3});
  check_error({"LMPOP", "0", "a", "LEFT"}, "ERR numkeys should be greater than 0");
  check_error({"LMPOP", "x", "a", "LEFT"}, "ERR numkeys should be greater than 0");
  check_error({"LMPOP", "2", "a", "LEFT"}, "ERR syntax error");
  check_error({"BLMPOP", "0", "3", "a", "LEFT"}, "ERR syntax error");
  check_error({"BZMPOP", "0", "-1", "a", "MIN"}, "ERR numkeys should be greater than 0");
}

TEST_CASE("keyword begin: streams and GEORADIUS STORE", "[key_indexes]") {
  check_keys({"XREAD", "STREAMS", "a", "0"}, Keys{2});
  check_keys({"XREAD", "COUNT", "5", "STREAMS", "a", "b", "0", "0"}, Keys{4, 5});
  check_keys({"xread", "count", "5", "streams", "a", "b", "c", "0", "0", "0"}, Keys{4, 5, 6});
  check_keys({"XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "NOACK", "STREAMS", "a", ">"},
             Keys{8});
  check_keys({"XREADGROUP", "GROUP", "STREAMS", "c", "STREAMS", "a", "b", ">", ">"},
             Keys{5, 6});  // a group named STREAMS is not the keyword (search starts at 4)
  check_keys({"XREAD", "COUNT", "1", "x"}, Keys{});  // no STREAMS: Redis answers the error
  const std::string unbalanced =
      "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.";
  check_error({"XREAD", "STREAMS", "a", "b", "c"}, unbalanced);
  check_error({"XREADGROUP", "GROUP", "g", "c", "STREAMS", "a", "b", "c"}, unbalanced);
  check_keys({"XREAD", "BLOCK", "0", "STREAMS", "a", "$"}, Keys{4});
  check_keys({"XREADGROUP", "GROUP", "g", "c", "block", "10", "STREAMS", "a", "b", ">", ">"},
             Keys{7, 8});

  check_keys({"GEORADIUS", "src", "0", "0", "10", "km"}, Keys{1});
  check_keys({"GEORADIUS", "src", "0", "0", "10", "km", "STORE", "dst"}, Keys{1, 7});
  check_keys({"GEORADIUS", "src", "0", "0", "10", "km", "STOREDIST", "dd"}, Keys{1, 7});
  check_keys({"GEORADIUSBYMEMBER", "src", "m", "10", "km", "COUNT", "3", "STORE", "dst"},
             Keys{1, 8});
  check_keys({"GEOSEARCHSTORE", "dst", "src", "FROMMEMBER", "m", "BYRADIUS", "1", "km"},
             Keys{1, 2});
}

TEST_CASE("movable keys outside the key specs: SORT and MIGRATE", "[key_indexes]") {
  check_keys({"SORT", "a"}, Keys{1});
  check_keys({"SORT", "a", "BY", "w_*", "GET", "#", "GET", "o_*", "ALPHA"}, Keys{1});
  check_keys({"SORT", "a", "STORE", "d"}, Keys{1, 3});
  check_keys({"SORT", "a", "LIMIT", "0", "10", "STORE", "d", "STORE", "e"}, Keys{1, 8});
  check_keys({"sort", "a", "by", "store", "store", "d"}, Keys{1, 5});  // BY's pattern is "store"
  check_keys({"SORT", "a", "STORE"}, Keys{1});                         // Redis reports the error
  check_keys({"SORT_RO", "a", "BY", "w_*", "GET", "#"}, Keys{1});

  check_keys({"MIGRATE", "h", "6379", "k", "0", "5000"}, Keys{3});
  check_keys({"MIGRATE", "h", "6379", "k", "0", "5000", "COPY", "REPLACE"}, Keys{3});
  check_keys({"MIGRATE", "h", "6379", "", "0", "5000", "KEYS", "a", "b"}, Keys{7, 8});
  check_keys({"MIGRATE", "h", "6379", "", "0", "5000", "AUTH", "keys", "KEYS", "a"}, Keys{9});
  check_keys({"MIGRATE", "h", "6379", "", "0", "5000", "AUTH2", "u", "keys", "KEYS", "keys"},
             Keys{10});
  check_keys({"MIGRATE", "h", "6379", "k", "0", "5000", "KEYS", "a"}, Keys{});  // invalid form
}

TEST_CASE("short requests never index past the end", "[key_indexes]") {
  for (const CommandInfo& top : CommandTable::instance().all()) {
    const std::span<const CommandInfo> one(&top, 1);
    for (const auto& list : {one, top.subcommands}) {
      for (const CommandInfo& info : list) {
        for (std::size_t argc = 1; argc <= 4; ++argc) {
          std::vector<std::string_view> args(argc, "1");
          args[0] = info.name;
          std::vector<std::uint32_t> keys;
          std::string error;
          if (sidecache::resp::key_indexes(info, args, keys, error)) {
            for (std::uint32_t k : keys) CHECK(k < argc);
          } else {
            CHECK(error.rfind("ERR ", 0) == 0);
          }
        }
      }
    }
  }
}
