// RequestParser: every case is fed whole, split at every byte and one byte at a time (feed.hpp).
#include "resp/parser.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "feed.hpp"
#include "resp/writer.hpp"

using namespace std::string_literals;
using sidecache::resp::Command;
using sidecache::resp::ParserLimits;
using sidecache::resp::ParseStatus;
using sidecache::resp::RequestParser;
using sidecache::resp::test::parse_all;
using sidecache::resp::test::ParseRun;

namespace {

using Args = std::vector<std::string>;

// Expects exactly the given commands and nothing left over.
void expect_commands(const std::string& input, const std::vector<Args>& expected,
                     bool inline_form) {
  INFO("input: " << input);
  const ParseRun run = parse_all(input);
  REQUIRE(run.last == ParseStatus::kNeedMore);
  REQUIRE(run.pending == 0);
  REQUIRE(run.commands.size() == expected.size());
  std::size_t raw_total = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(run.commands[i].args == expected[i]);
    CHECK(run.commands[i].inline_form == inline_form);
    raw_total += run.commands[i].raw.size();
  }
  CHECK(raw_total == input.size());
}

void expect_error(const std::string& input, const std::string& error,
                  const ParserLimits& limits = {}) {
  INFO("input: " << input);
  const ParseRun run = parse_all(input, limits);
  REQUIRE(run.last == ParseStatus::kError);
  CHECK(run.error == error);
}

}  // namespace

TEST_CASE("multibulk commands", "[parser]") {
  expect_commands("*1\r\n$4\r\nPING\r\n", {{"PING"}}, false);
  expect_commands("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n", {{"SET", "k", "value"}}, false);
  // Binary payloads: CR, LF, NUL and '$' inside a bulk are data.
  expect_commands("*2\r\n$4\r\n\r\n\0$\r\n$0\r\n\r\n"s, {{"\r\n\0$"s, ""}}, false);
  // A pipeline of different shapes in one region.
  expect_commands("*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$4\r\nPING\r\n",
                  {{"PING"}, {"GET", "a"}, {"PING"}}, false);
}

TEST_CASE("empty multibulks and empty lines are skipped into the next command", "[parser]") {
  const ParseRun run = parse_all("*0\r\n*-1\r\n\r\n\n  \t\r\n*-5\r\n*1\r\n$4\r\nPING\r\n");
  REQUIRE(run.commands.size() == 1);
  CHECK(run.commands[0].args == Args{"PING"});
  CHECK(run.commands[0].raw.size() == 36);  // the skipped bytes count in the command
  CHECK(run.pending == 0);

  // Only skippable input: kNeedMore, the bytes stay pending and are not reported as a command.
  const ParseRun alone = parse_all("*0\r\n\r\n");
  CHECK(alone.commands.empty());
  CHECK(alone.last == ParseStatus::kNeedMore);
  CHECK(alone.pending == 6);
}

TEST_CASE("inline commands", "[parser]") {
  expect_commands("PING\r\n", {{"PING"}}, true);
  expect_commands("PING\n", {{"PING"}}, true);
  expect_commands("set a b\r\nget a\nPING\r\n", {{"set", "a", "b"}, {"get", "a"}, {"PING"}}, true);
  expect_commands("  set \t  a   b  \r\n", {{"set", "a", "b"}}, true);
  expect_commands("set \"a b\" 'c d'\r\n", {{"set", "a b", "c d"}}, true);
  expect_commands("x \"\\x41\\x7a\\n\\r\\t\\b\\a\\\\\\\"\\q\"\r\n", {{"x", "Az\n\r\t\b\a\\\"q"}},
                  true);
  expect_commands("x \"\\xZZ\" \"\\x4\"\r\n", {{"x", "xZZ", "x4"}}, true);  // no valid hex
  expect_commands("x 'it\\'s' 'a\\nb'\r\n", {{"x", "it's", "a\\nb"}}, true);
  expect_commands("x a\"b c\" \"\"\r\n", {{"x", "ab c", ""}}, true);
  expect_commands("a\rb\n", {{"a", "b"}}, true);  // a lone CR separates like a blank
  // Blanks between arguments are isspace() (\v and \f too), but only space, tab, CR, LF end
  // an unquoted argument; a closing quote may be followed by any blank.
  expect_commands("\v\fa\vb c\f\r\n", {{"a\vb", "c\f"}}, true);
  expect_commands("'x'\v\"y\"\f\r\n", {{"x", "y"}}, true);
  // The CR before LF is optional; a CR elsewhere is a separator.
  expect_commands("a\r\r\n", {{"a"}}, true);
}

TEST_CASE("inline quoting errors", "[parser]") {
  // protocol.tcl "Unbalanced number of quotes".
  expect_error("set \"\"\"test-key\"\"\" test-value\r\nping\r\n", "unbalanced quotes in request");
  expect_error("set \"unterminated\r\n", "unbalanced quotes in request");
  expect_error("set 'unterminated\r\n", "unbalanced quotes in request");
  expect_error("set \"a\"b\r\n", "unbalanced quotes in request");
  expect_error("set 'a'b\r\n", "unbalanced quotes in request");
  expect_error("set \"a\\\"\r\n", "unbalanced quotes in request");
}

TEST_CASE("malformed multibulk headers (protocol.tcl and string2ll rules)", "[parser]") {
  expect_error("*3000000000\r\n", "invalid multibulk length");
  expect_error("*20000000\r\n", "invalid multibulk length");  // over max_args
  for (const char* bad : {"*+1\r\n", "* 1\r\n", "*1 \r\n", "*01\r\n", "*\r\n", "*-\r\n", "*-0\r\n",
                          "*1x\r\n", "*99999999999999999999\r\n", "*1\rX"}) {
    expect_error(bad, "invalid multibulk length");
  }
  expect_error("*1\r\nfoo\r\n", "expected '$', got 'f'");
  expect_error("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", "expected '$', got 'f'");
  expect_error("*1\r\n\r\n", "expected '$', got ' '");  // CR/LF never reach the error text
}

TEST_CASE("malformed bulk headers and payloads", "[parser]") {
  const std::string set = "*3\r\n$3\r\nSET\r\n$1\r\nx\r\n";
  expect_error(set + "$-10\r\n", "invalid bulk length");
  expect_error(set + "$2000000000\r\n", "invalid bulk length");
  expect_error(set + "$blabla\r\n", "invalid bulk length");
  for (const char* bad : {"$+3\r\n", "$03\r\n", "$ 3\r\n", "$\r\n", "$-1\r\n", "$3\rX"}) {
    expect_error(set + bad, "invalid bulk length");
  }
  expect_error("*1\r\n$3\r\nfooXY", "expected CRLF after bulk argument");
  expect_error("*1\r\n$3\r\nfoo\rX", "expected CRLF after bulk argument");
  expect_error("*1\r\n$3\r\nfoo\n\r", "expected CRLF after bulk argument");
}

TEST_CASE("truncated input waits for more", "[parser]") {
  for (const std::string partial : {"*3\r\n$3\r\nSET", "*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\ny\r",
                                    "*", "*1\r", "*1\r\n$", "PING", "PING\r", "set \"a b"}) {
    INFO(partial);
    const ParseRun run = parse_all(partial);
    CHECK(run.last == ParseStatus::kNeedMore);
    CHECK(run.commands.empty());
    CHECK(run.pending == partial.size());
  }
}

TEST_CASE("a NUL before the end of a line hides the end, as in Redis 7.0", "[parser]") {
  // Redis finds line ends with strchr: `ECHO a\0b\r\n` never completes, whatever follows,
  // until the unconsumed input passes the inline limit.
  for (const std::string& partial :
       {"ECHO a\0b\r\n"s, "ECHO a\0b\r\nPING\r\n"s, "\0\r\n"s, "PING\0\nPING\n"s,
        "*1\0\r\n$4\r\nPING\r\n"s, "*1\r\n$4\0\r\nPING\r\n"s, "ECHO \"a\0b\"\r\n"s}) {
    INFO(partial);
    const ParseRun run = parse_all(partial);
    CHECK(run.last == ParseStatus::kNeedMore);
    CHECK(run.commands.empty());
    CHECK(run.pending == partial.size());
  }
  // Commands before the line are served; a NUL inside a bulk is data.
  const ParseRun before = parse_all("PING\r\n*2\r\n$4\r\nECHO\r\n$3\r\na\0b\r\nECHO a\0b\r\n"s);
  REQUIRE(before.commands.size() == 2);
  CHECK(before.commands[1].args == Args{"ECHO", "a\0b"s});
  CHECK(before.last == ParseStatus::kNeedMore);
  ParserLimits small;
  small.max_inline_bytes = 16;
  expect_error("ECHO a\0b\r\n" + std::string(20, 'x'), "too big inline request", small);
  expect_error("*1\0\r\n" + std::string(20, 'x'), "too big mbulk count string", small);
  expect_error("*1\r\n$4\0\r\n" + std::string(20, 'x'), "too big bulk count string", small);
}

TEST_CASE("limits are enforced before waiting for or allocating the data", "[parser]") {
  ParserLimits small;
  small.max_inline_bytes = 16;
  small.max_args = 3;
  small.max_bulk_bytes = 10;
  expect_error("*" + std::string(20, '1'), "too big mbulk count string", small);
  expect_error("*1\r\n$" + std::string(20, '1'), "too big bulk count string", small);
  expect_error(std::string(17, 'a'), "too big inline request", small);
  expect_error(std::string(17, 'a') + "\r\n", "too big inline request", small);
  expect_error("*4\r\n", "invalid multibulk length", small);
  expect_error("a b c d\r\n", "invalid multibulk length", small);
  expect_error("*1\r\n$11\r\n", "invalid bulk length", small);
  // Exactly at the limits is fine.
  const ParseRun ok = parse_all(
      "*3\r\n$10\r\n0123456789\r\n$0\r\n\r\n$1\r\nx\r\n" + std::string(16, 'b') + "\r\n", small);
  REQUIRE(ok.commands.size() == 2);
  CHECK(ok.commands[0].args == Args{"0123456789", "", "x"});
  CHECK(ok.commands[1].args == Args{std::string(16, 'b')});
  // Default 64 KiB inline limit (too long to feed at every split).
  const std::string big(70000, 'a');
  for (std::size_t cut : {0, 1, 65536, 65537, 69999}) {
    const ParseRun run = sidecache::resp::test::run_parser(big, {cut});
    CHECK(run.last == ParseStatus::kError);
    CHECK(run.error == "too big inline request");
  }
}

TEST_CASE("after an error the parser stays failed until reset", "[parser]") {
  RequestParser parser;
  Command cmd;
  std::size_t used = 99;
  REQUIRE(parser.parse("*1\r\nfoo\r\n", cmd, used) == ParseStatus::kError);
  CHECK(used == 0);
  CHECK(parser.parse("*1\r\n$4\r\nPING\r\n", cmd, used) == ParseStatus::kError);
  parser.reset();
  REQUIRE(parser.parse("*1\r\n$4\r\nPING\r\n", cmd, used) == ParseStatus::kCommand);
  CHECK(used == 14);
  CHECK(parser.error().empty());
}

TEST_CASE("need_hint reports the rest of an announced bulk", "[parser]") {
  RequestParser parser;
  Command cmd;
  std::size_t used = 0;
  const std::string msg = "*2\r\n$3\r\nSET\r\n$1000\r\n" + std::string(10, 'x');
  CHECK(parser.parse(msg, cmd, used) == ParseStatus::kNeedMore);
  CHECK(parser.need_hint() == 1000 + 2 - 10);
  CHECK(parser.parse(msg + std::string(980, 'y'), cmd, used) == ParseStatus::kNeedMore);
  CHECK(parser.need_hint() == 12);
  CHECK(parser.parse(msg + std::string(990, 'y') + "\r\n", cmd, used) == ParseStatus::kCommand);
  CHECK(parser.need_hint() == 0);
}

TEST_CASE("a pipeline of many mixed commands, every split", "[parser]") {
  std::string input;
  std::vector<Args> expected;
  for (int i = 0; i < 12; ++i) {
    Args args{"SET", "key:" + std::to_string(i), std::string(static_cast<std::size_t>(i), 'v')};
    std::vector<std::string_view> views(args.begin(), args.end());
    if (i % 3 == 2) {
      input += "SET key:" + std::to_string(i) + " \"" + args[2] + "\"\r\n";
    } else {
      sidecache::resp::append_command(input, views);
    }
    expected.push_back(args);
  }
  const ParseRun run = parse_all(input);
  REQUIRE(run.commands.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(run.commands[i].args == expected[i]);
    CHECK(run.commands[i].inline_form == (i % 3 == 2));
  }
  CHECK(run.pending == 0);
}

TEST_CASE("1000-command pipeline whole and one byte per read", "[parser]") {
  std::string input;
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "k" + std::to_string(i);
    const std::vector<std::string_view> args{"GET", key};
    sidecache::resp::append_command(input, args);
  }
  std::vector<std::size_t> cuts;
  for (std::size_t k = 1; k < input.size(); ++k) cuts.push_back(k);
  const ParseRun whole = sidecache::resp::test::run_parser(input, {});
  const ParseRun bytes = sidecache::resp::test::run_parser(input, cuts);
  REQUIRE(whole.commands.size() == 1000);
  CHECK(whole == bytes);
  CHECK(whole.commands[999].args == Args{"GET", "k999"});
}

TEST_CASE("random binary arguments survive append_command and parse", "[parser]") {
  std::mt19937_64 rng(12345);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> args(1 + rng() % 6);
    for (auto& a : args) {
      a.resize(rng() % 40);
      for (auto& c : a) c = static_cast<char>(rng());
    }
    const std::vector<std::string_view> views(args.begin(), args.end());
    std::string wire;
    sidecache::resp::append_command(wire, views);
    const ParseRun run = sidecache::resp::test::run_parser(wire, {wire.size() / 2});
    REQUIRE(run.commands.size() == 1);
    CHECK(run.commands[0].args == args);
    CHECK(run.commands[0].raw == wire);
  }
}

// Linear resumption: a 1M-argument command arriving one byte per read. A parser that rescans
// from the start of the message would need ~10^13 steps here and time out.
TEST_CASE("one million arguments in one-byte reads is linear", "[parser][slow]") {
  constexpr std::size_t kArgs = 1000000;
  std::string input = "*" + std::to_string(kArgs) + "\r\n";
  for (std::size_t i = 0; i < kArgs; ++i) input += "$1\r\nx\r\n";
  RequestParser parser;
  Command cmd;
  std::size_t used = 0;
  const auto start = std::chrono::steady_clock::now();
  std::size_t calls = 0;
  ParseStatus status = ParseStatus::kNeedMore;
  for (std::size_t k = 1; k <= input.size() && status == ParseStatus::kNeedMore; ++k, ++calls) {
    status = parser.parse(std::string_view(input).substr(0, k), cmd, used);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE(status == ParseStatus::kCommand);
  CHECK(used == input.size());
  CHECK(calls == input.size());
  CHECK(cmd.args.size() == kArgs);
  CHECK(std::chrono::duration_cast<std::chrono::seconds>(elapsed).count() < 30);
}

TEST_CASE("a 4 MiB bulk in one-byte reads", "[parser][slow]") {
  const std::string payload(4 << 20, 'p');
  std::string input = "*2\r\n$3\r\nSET\r\n$" + std::to_string(payload.size()) + "\r\n";
  const std::size_t header = input.size();
  input += payload + "\r\n";
  RequestParser parser;
  Command cmd;
  std::size_t used = 0;
  for (std::size_t k = 1; k < input.size(); ++k) {
    if (parser.parse(std::string_view(input).substr(0, k), cmd, used) != ParseStatus::kNeedMore) {
      FAIL("early result at " << k);
    }
    if (k == header) CHECK(parser.need_hint() == payload.size() + 2);
  }
  REQUIRE(parser.parse(input, cmd, used) == ParseStatus::kCommand);
  CHECK(cmd.args[1].size() == payload.size());
  // A view into the region, not a copy (parenthesized: Catch would print 4 MiB C strings).
  CHECK((cmd.args[1].data() == input.data() + header));
}

TEST_CASE("Command::start skips the empty lines and empty multibulks before a command") {
  using namespace sidecache::resp;
  RequestParser parser;
  Command command;
  std::size_t consumed = 0;
  const std::string input = std::string("\r\n \r\n*0\r\n*-1\r\n") + "*1\r\n$4\r\nPING\r\n";
  REQUIRE(parser.parse(input, command, consumed) == ParseStatus::kCommand);
  CHECK(consumed == input.size());
  CHECK(input.substr(command.start, consumed - command.start) == "*1\r\n$4\r\nPING\r\n");

  const std::string inline_input = "\r\n\r\nGET k\r\n";
  REQUIRE(parser.parse(inline_input, command, consumed) == ParseStatus::kCommand);
  CHECK(inline_input.substr(command.start, consumed - command.start) == "GET k\r\n");
}

// A complete multibulk with canonical numbers is parsed in one pass (parse_whole); everything
// else by the step machine. parse_all compares the whole input (one pass where it applies) with
// every split and byte-at-a-time reads (the step machine): they must agree, errors included.
TEST_CASE("the one-pass path and the step machine agree at their edges", "[parser]") {
  const std::string max18 = "999999999999999999";  // 18 digits: still one pass
  const std::vector<std::string> inputs = {
      "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
      "*1\r\n$0\r\n\r\n",                 // empty argument
      "*2\r\n$03\r\nGET\r\n$1\r\nk\r\n",  // leading zero: invalid bulk length
      "*02\r\n$3\r\nGET\r\n$1\r\nk\r\n",  // leading zero: invalid multibulk length
      "*0\r\n*1\r\n$4\r\nPING\r\n",       // skipped empty multibulk first
      "*-1\r\n*1\r\n$4\r\nPING\r\n",      // negative count: skipped too
      "*1\r\n$4\r\nPINGx\r\n",            // no CRLF after the payload
      "*1\r\n$4\r\nPING\rx",              // CR then not LF
      "*1\r\n$4\rx\nPING\r\n",            // header CR not followed by LF
      "*1\r\n$+4\r\nPING\r\n",            // sign
      "*1\r\n:4\r\nPING\r\n",             // not '$'
      "*1\r\n$" + max18 + "\r\n",         // above the bulk limit
      "*1\r\n$1" + max18 + "\r\n",        // 19 digits
      "*1\r\n$4\r\nPI\0G\r\n"s,           // a NUL inside a payload is data
      "*1\r\n$4\0\r\nPING\r\n"s,          // a NUL in a header hides its end
      "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n*1\r\n$4\r\nPI",  // then a partial command
  };
  for (const auto& input : inputs) {
    INFO(input);
    CHECK_NOTHROW(parse_all(input));
  }
  CHECK(parse_all(inputs[0]).commands.at(0).args == Args{"GET", "k"});
  CHECK(parse_all(inputs[1]).commands.at(0).args == Args{""});
  CHECK(parse_all(inputs[2]).error == "invalid bulk length");
  CHECK(parse_all(inputs[3]).error == "invalid multibulk length");
  CHECK(parse_all(inputs[4]).commands.at(0).args == Args{"PING"});
  CHECK(parse_all(inputs[12]).error == "invalid bulk length");
  CHECK(parse_all(inputs.back()).commands.size() == 1);
  // Limits: the same answers whichever path reads the command.
  ParserLimits small;
  small.max_args = 2;
  small.max_bulk_bytes = 3;
  small.max_inline_bytes = 2;
  CHECK(parse_all("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", small).error ==
        "invalid multibulk length");
  CHECK(parse_all("*1\r\n$4\r\nPING\r\n", small).error == "invalid bulk length");
  CHECK_NOTHROW(parse_all("*2\r\n$3\r\nGET\r\n$10\r\n0123456789\r\n", small));
}

// Random small pipelines, some bytes replaced by protocol characters: the whole input (one-pass
// path where it applies) and every split (step machine) must agree. Fixed seed.
TEST_CASE("the one-pass path and the step machine agree on mutated pipelines", "[parser]") {
  std::mt19937 rng(15);
  const std::string alphabet = "*$\r\n0123456789-+ \0aGET"s;
  for (int round = 0; round < 300; ++round) {
    std::string input;
    const int commands = 1 + static_cast<int>(rng() % 3);
    for (int c = 0; c < commands; ++c) {
      const std::string key(rng() % 12, 'k');
      const std::vector<std::string_view> args{"GET", key};
      sidecache::resp::append_command(input, args);
    }
    const int mutations = static_cast<int>(rng() % 3);
    for (int m = 0; m < mutations; ++m) {
      input[rng() % input.size()] = alphabet[rng() % alphabet.size()];
    }
    INFO(input);
    CHECK_NOTHROW(parse_all(input));
  }
}
