// libFuzzer target for ReplyFramer, split_array and integer_reply. Input: 3 control bytes
// (limits, split point), then a backend byte stream. Invariants checked beyond "no crash":
//  - whole, two chunks at the chosen split, and (if short) one byte per read agree on every
//    reply length, the final status and the error text;
//  - 0 < length <= region size; a framed reply framed again alone gives the same length, and
//    its proper prefix (all but the last byte) is kNeedMore, never complete or an error;
//  - split_array succeeds exactly on non-null arrays, its elements tile the reply after the
//    header, and each element frames to its own length;
//  - integer_reply, when it accepts, round-trips through append_integer.
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "resp/reply.hpp"
#include "resp/writer.hpp"

namespace {

using sidecache::fuzz::ExactCopy;
using namespace sidecache::resp;

struct Result {
  std::vector<std::size_t> lengths;
  FrameStatus last = FrameStatus::kNeedMore;
  std::string error;
  bool operator==(const Result&) const = default;
};

std::size_t frame_alone(std::string_view reply, const ReplyLimits& limits, FrameStatus& status) {
  const ExactCopy copy(reply);
  ReplyFramer framer(limits);
  std::size_t length = 0;
  status = framer.frame(copy.view(), length);
  return length;
}

void check_split(std::string_view reply) {
  std::vector<std::string_view> elements;
  const bool is_array = reply[0] == '*' && reply.substr(0, 3) != "*-1";
  FUZZ_CHECK(split_array(reply, elements) == is_array);
  if (!is_array) {
    FUZZ_CHECK(elements.empty());
    return;
  }
  const std::size_t header = reply.find("\r\n") + 2;
  const char* next = reply.data() + header;
  for (std::string_view e : elements) {
    FUZZ_CHECK(e.data() == next);
    FrameStatus status;
    FUZZ_CHECK(frame_alone(e, ReplyLimits{}, status) == e.size());
    FUZZ_CHECK(status == FrameStatus::kComplete);
    next = e.data() + e.size();
  }
  FUZZ_CHECK(next == reply.data() + reply.size());
}

void check_reply(std::string_view reply, const ReplyLimits& limits) {
  FrameStatus status;
  FUZZ_CHECK(frame_alone(reply, limits, status) == reply.size());
  FUZZ_CHECK(status == FrameStatus::kComplete);
  frame_alone(reply.substr(0, reply.size() - 1), limits, status);
  FUZZ_CHECK(status == FrameStatus::kNeedMore);
  check_split(reply);  // split_array's default limits are wider than any limits used here
  if (const auto n = integer_reply(reply)) {
    std::string wire;
    append_integer(wire, *n);
    FUZZ_CHECK(wire == reply);
  }
}

Result run(std::string_view input, const std::vector<std::size_t>& cuts, const ReplyLimits& limits,
           bool check) {
  ReplyFramer framer(limits);
  Result result;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t received = i < cuts.size() ? cuts[i] : input.size();
    for (;;) {
      const ExactCopy copy(input.substr(start, received - start));
      const std::string_view region = copy.view();
      std::size_t length = 99;
      result.last = framer.frame(region, length);
      if (result.last != FrameStatus::kComplete) FUZZ_CHECK(length == 0);
      if (result.last == FrameStatus::kError) {
        result.error = framer.error();
        FUZZ_CHECK(!result.error.empty());
        return result;
      }
      if (result.last == FrameStatus::kNeedMore) break;
      FUZZ_CHECK(length > 0 && length <= region.size());
      if (check) check_reply(region.substr(0, length), limits);
      result.lengths.push_back(length);
      start += length;
    }
  }
  return result;
}

}  // namespace

SIDECACHE_FUZZ_ENTRY(fuzz_reply_framer) {
  const auto control = sidecache::fuzz::take_control(data, size);
  ReplyLimits limits;
  if (control.small_limits) {
    limits.max_line_bytes = 16;
    limits.max_bulk_bytes = 32;
    limits.max_elements = 16;
  }
  const Result whole = run(control.input, {}, limits, true);
  FUZZ_CHECK(run(control.input, {control.split}, limits, false) == whole);
  if (control.input.size() <= 512) {
    std::vector<std::size_t> bytes;
    for (std::size_t k = 1; k < control.input.size(); ++k) bytes.push_back(k);
    FUZZ_CHECK(run(control.input, bytes, limits, false) == whole);
  }
  return 0;
}
