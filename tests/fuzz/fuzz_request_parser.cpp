// libFuzzer target for RequestParser. Input: 3 control bytes (limits, split point), then the
// client byte stream. Invariants checked beyond "no crash":
//  - the stream fed whole, in two chunks at the chosen split, and (if short) one byte at a time
//    yields identical commands, consumed counts, final status and error text;
//  - 0 < consumed <= region size on kCommand; consumed == 0 otherwise;
//  - limits hold for every command;
//  - multibulk: args are views inside the command's bytes, and the command's bytes end with
//    append_command(args) (the wire form is canonical; only skipped lines may precede it);
//  - re-encoding any command with append_command and parsing it again gives the same args.
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "resp/parser.hpp"
#include "resp/writer.hpp"

namespace {

using sidecache::fuzz::ExactCopy;
using namespace sidecache::resp;

struct Parsed {
  std::vector<std::string> args;
  bool inline_form = false;
  std::size_t consumed = 0;
  bool operator==(const Parsed&) const = default;
};

struct Result {
  std::vector<Parsed> commands;
  ParseStatus last = ParseStatus::kNeedMore;
  std::string error;
  bool operator==(const Result&) const = default;
};

void check_reencoding(const Command& cmd) {
  std::string wire;
  append_command(wire, cmd.args);
  RequestParser again;
  Command copy;
  std::size_t used = 0;
  FUZZ_CHECK(again.parse(wire, copy, used) == ParseStatus::kCommand);
  FUZZ_CHECK(used == wire.size());
  FUZZ_CHECK(!copy.inline_form);
  FUZZ_CHECK(copy.args == cmd.args);
}

void check_command(std::string_view raw, const Command& cmd, const ParserLimits& limits) {
  FUZZ_CHECK(!cmd.args.empty());
  FUZZ_CHECK(cmd.args.size() <= limits.max_args);
  for (std::string_view arg : cmd.args) {
    FUZZ_CHECK(arg.size() <= (cmd.inline_form ? limits.max_inline_bytes : limits.max_bulk_bytes));
    if (!cmd.inline_form) {
      FUZZ_CHECK(arg.data() >= raw.data() && arg.data() + arg.size() <= raw.data() + raw.size());
    }
  }
  if (!cmd.inline_form) {
    std::string wire;
    append_command(wire, cmd.args);
    FUZZ_CHECK(raw.size() >= wire.size());
    FUZZ_CHECK(raw.substr(raw.size() - wire.size()) == wire);
  }
  check_reencoding(cmd);
}

// Feeds input[0, cuts[0]), then up to cuts[1], ..., then everything.
Result run(std::string_view input, const std::vector<std::size_t>& cuts,
           const ParserLimits& limits) {
  RequestParser parser(limits);
  Result result;
  std::size_t start = 0;
  Command cmd;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t received = i < cuts.size() ? cuts[i] : input.size();
    for (;;) {
      const ExactCopy copy(input.substr(start, received - start));
      const std::string_view region = copy.view();
      std::size_t used = 99;
      result.last = parser.parse(region, cmd, used);
      if (result.last != ParseStatus::kCommand) FUZZ_CHECK(used == 0);
      if (result.last == ParseStatus::kError) {
        result.error = parser.error();
        FUZZ_CHECK(!result.error.empty());
        FUZZ_CHECK(result.error.find_first_of("\r\n") == std::string::npos);
        return result;
      }
      if (result.last == ParseStatus::kNeedMore) break;
      FUZZ_CHECK(used > 0 && used <= region.size());
      check_command(region.substr(0, used), cmd, limits);
      Parsed p{{cmd.args.begin(), cmd.args.end()}, cmd.inline_form, used};
      result.commands.push_back(std::move(p));
      start += used;
    }
  }
  return result;
}

}  // namespace

SIDECACHE_FUZZ_ENTRY(fuzz_request_parser) {
  const auto control = sidecache::fuzz::take_control(data, size);
  ParserLimits limits;
  if (control.small_limits) {
    limits.max_inline_bytes = 24;
    limits.max_args = 4;
    limits.max_bulk_bytes = 16;
  }
  const Result whole = run(control.input, {}, limits);
  const Result split = run(control.input, {control.split}, limits);
  FUZZ_CHECK(whole == split);
  if (control.input.size() <= 512) {
    std::vector<std::size_t> bytes;
    for (std::size_t k = 1; k < control.input.size(); ++k) bytes.push_back(k);
    FUZZ_CHECK(run(control.input, bytes, limits) == whole);
  }
  return 0;
}
