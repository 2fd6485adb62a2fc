// Test drivers that feed the RESP parser and framer the way a session does: bytes arrive in
// chunks, the unconsumed region is handed over again after each arrival. Every call gets a fresh
// exact-size heap copy of the region (a new address, no slack bytes), so ASan reports any read
// past the end and any pointer kept into an old copy.
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "resp/parser.hpp"
#include "resp/reply.hpp"

namespace sidecache::resp::test {

class ExactCopy {
 public:
  explicit ExactCopy(std::string_view s) : size_(s.size()), data_(new char[s.size()]) {
    if (!s.empty()) std::char_traits<char>::copy(data_.get(), s.data(), s.size());
  }
  std::string_view view() const { return {data_.get(), size_}; }

 private:
  std::size_t size_;
  std::unique_ptr<char[]> data_;
};

struct ParsedCommand {
  std::vector<std::string> args;
  bool inline_form = false;
  std::string raw;
  bool operator==(const ParsedCommand&) const = default;
};

struct ParseRun {
  std::vector<ParsedCommand> commands;
  ParseStatus last = ParseStatus::kNeedMore;
  std::string error;
  std::size_t pending = 0;  // bytes left unconsumed at the end
  bool operator==(const ParseRun&) const = default;
};

struct FrameRun {
  std::vector<std::string> replies;
  FrameStatus last = FrameStatus::kNeedMore;
  std::string error;
  std::size_t pending = 0;
  bool operator==(const FrameRun&) const = default;
};

// Delivers input[0, cuts[0]), then up to cuts[1], ..., then the rest; `cuts` ascending.
template <typename Step>
void feed(std::string_view input, const std::vector<std::size_t>& cuts, Step&& step) {
  std::size_t start = 0;
  std::unique_ptr<ExactCopy> region;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t received = i < cuts.size() ? cuts[i] : input.size();
    for (;;) {
      // Allocate the new copy before freeing the old one: the address always changes.
      auto next = std::make_unique<ExactCopy>(input.substr(start, received - start));
      region = std::move(next);
      std::size_t used = 0;
      const int r = step(region->view(), used);
      if (r < 0) return;  // error: stop
      if (r == 0) break;  // need more
      start += used;
    }
  }
}

inline ParseRun run_parser(std::string_view input, const std::vector<std::size_t>& cuts,
                           const ParserLimits& limits = {}) {
  RequestParser parser(limits);
  ParseRun run;
  std::size_t start = 0;
  Command cmd;
  feed(input, cuts, [&](std::string_view region, std::size_t& used) {
    run.last = parser.parse(region, cmd, used);
    if (run.last == ParseStatus::kError) {
      run.error = parser.error();
      return -1;
    }
    if (run.last == ParseStatus::kNeedMore) return 0;
    if (used == 0 || used > region.size()) throw std::logic_error("bad consumed");
    ParsedCommand pc{{}, cmd.inline_form, std::string(region.substr(0, used))};
    for (auto a : cmd.args) pc.args.emplace_back(a);
    run.commands.push_back(std::move(pc));
    start += used;
    return 1;
  });
  run.pending = input.size() - start;
  return run;
}

inline FrameRun run_framer(std::string_view input, const std::vector<std::size_t>& cuts,
                           const ReplyLimits& limits = {}) {
  ReplyFramer framer(limits);
  FrameRun run;
  std::size_t start = 0;
  feed(input, cuts, [&](std::string_view region, std::size_t& used) {
    run.last = framer.frame(region, used);
    if (run.last == FrameStatus::kError) {
      run.error = framer.error();
      return -1;
    }
    if (run.last == FrameStatus::kNeedMore) return 0;
    if (used == 0 || used > region.size()) throw std::logic_error("bad length");
    run.replies.emplace_back(region.substr(0, used));
    start += used;
    return 1;
  });
  run.pending = input.size() - start;
  return run;
}

// Runs `input` whole, split at every byte into two chunks, and one byte at a time; every run
// must agree with the whole run, which is returned. `Run` is run_parser or run_framer.
template <typename Limits, typename Runner>
auto run_all_splits(std::string_view input, const Limits& limits, Runner runner) {
  auto whole = runner(input, {}, limits);
  for (std::size_t k = 0; k <= input.size(); ++k) {
    auto split = runner(input, {k}, limits);
    if (!(split == whole)) throw std::runtime_error("split at " + std::to_string(k) + " differs");
  }
  std::vector<std::size_t> bytes;
  for (std::size_t k = 1; k < input.size(); ++k) bytes.push_back(k);
  if (!(runner(input, bytes, limits) == whole)) {
    throw std::runtime_error("byte-at-a-time run differs");
  }
  return whole;
}

inline ParseRun parse_all(std::string_view input, const ParserLimits& limits = {}) {
  return run_all_splits(input, limits, run_parser);
}

inline FrameRun frame_all(std::string_view input, const ReplyLimits& limits = {}) {
  return run_all_splits(input, limits, run_framer);
}

}  // namespace sidecache::resp::test
