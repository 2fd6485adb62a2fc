// Reply framing in skip mode: no tree, only "how many elements are still open" per level.
//
// State between calls: pos_ (where to continue), bulk_len_ (payload still to skip after a bulk
// header), stack_ (elements left per open aggregate, run-length encoded) and scan_ (how far an
// unfinished line was searched). Offsets only, so the region may move between calls. The loop is
// iterative: any nesting depth frames in constant native stack.
#include "resp/reply.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "resp/detail.hpp"

namespace sidecache::resp {

enum class ReplyFramer::Step : unsigned char { kContinue, kNeedMore, kError, kComplete };

namespace {

constexpr std::size_t kStackReserve = 64;

// Simple types whose line is text of any length (a status or an error from a script may be long);
// the other lines hold a number and are held to max_line_bytes.
bool is_text_line(char c) { return c == '+' || c == '-' || c == '('; }

bool is_simple_type(char c) {
  return c == '+' || c == '-' || c == ':' || c == '_' || c == ',' || c == '#' || c == '(';
}

bool is_bulk_type(char c) { return c == '$' || c == '=' || c == '!'; }

bool is_aggregate_type(char c) { return c == '*' || c == '~' || c == '%' || c == '>' || c == '|'; }

}  // namespace

ReplyFramer::ReplyFramer(const ReplyLimits& limits) : limits_(limits) {}

void ReplyFramer::reset() {
  error_ = {};
  pos_ = scan_ = 0;
  bulk_len_ = -1;
  stack_.clear();
  elements_ = 0;
}

ReplyFramer::Step ReplyFramer::fail(const char* text) {
  error_ = text;
  return Step::kError;
}

bool ReplyFramer::close_element() {
  while (!stack_.empty()) {
    std::int64_t& top = stack_.back();
    if (top < 0) {  // a run of aggregates on their last element: all complete
      stack_.pop_back();
      continue;
    }
    if (--top > 1) return false;
    // One element left: the aggregate joins the run of its parent if that is one.
    stack_.pop_back();
    push_level(1);
    return false;
  }
  return true;
}

void ReplyFramer::push_level(std::int64_t left) {
  if (left == 1 && !stack_.empty() && stack_.back() < 0) {
    --stack_.back();
    return;
  }
  if (stack_.capacity() == 0) stack_.reserve(kStackReserve);
  stack_.push_back(left == 1 ? -1 : left);
}

ReplyFramer::Step ReplyFramer::open_aggregate(char type, std::int64_t count) {
  // A map entry and an attribute entry are two elements; an attribute also owns the value that
  // follows it.
  const bool pairs = type == '%' || type == '|';
  const auto n = static_cast<std::size_t>(count) * (pairs ? 2 : 1) + (type == '|' ? 1 : 0);
  if (n == 0) return close_element() ? Step::kComplete : Step::kContinue;
  elements_ += n;
  if (elements_ > limits_.max_elements) return fail("too many elements in reply");
  push_level(static_cast<std::int64_t>(n));
  return Step::kContinue;
}

ReplyFramer::Step ReplyFramer::read_payload(std::string_view region) {
  const auto len = static_cast<std::size_t>(bulk_len_);
  if (region.size() - pos_ < len + 2) return Step::kNeedMore;
  if (region[pos_ + len] != '\r' || region[pos_ + len + 1] != '\n') {
    return fail("expected CRLF after bulk payload");
  }
  pos_ += len + 2;
  bulk_len_ = -1;
  return close_element() ? Step::kComplete : Step::kContinue;
}

ReplyFramer::Step ReplyFramer::read_header(std::string_view region) {
  if (pos_ >= region.size()) return Step::kNeedMore;
  const std::size_t max_line =
      is_text_line(region[pos_]) ? limits_.max_bulk_bytes : limits_.max_line_bytes;
  const std::size_t from = std::max(scan_, pos_);
  const void* hit = std::memchr(region.data() + from, '\r', region.size() - from);
  if (hit == nullptr) {
    scan_ = region.size();
    if (region.size() - pos_ > max_line) return fail("reply line too long");
    return Step::kNeedMore;
  }
  const auto cr = static_cast<std::size_t>(static_cast<const char*>(hit) - region.data());
  if (cr - pos_ > max_line) return fail("reply line too long");
  if (cr + 1 >= region.size()) {
    scan_ = cr;
    return Step::kNeedMore;
  }
  if (region[cr + 1] != '\n') return fail("expected CRLF after reply line");
  scan_ = 0;
  const char type = region[pos_];
  const std::string_view body = region.substr(pos_ + 1, cr - pos_ - 1);
  if (is_simple_type(type)) {
    pos_ = cr + 2;
    return close_element() ? Step::kComplete : Step::kContinue;
  }
  if (!is_bulk_type(type) && !is_aggregate_type(type)) return fail("invalid reply type byte");
  if (body == "?") return fail("streamed replies are not supported");
  std::int64_t n = 0;
  if (!detail::parse_int64(body, n) || n < -1) return fail("invalid reply length");
  pos_ = cr + 2;
  if (n == -1) {  // RESP2 null bulk / null array
    if (type != '$' && type != '*') return fail("invalid reply length");
    return close_element() ? Step::kComplete : Step::kContinue;
  }
  if (is_bulk_type(type)) {
    if (static_cast<std::uint64_t>(n) > limits_.max_bulk_bytes) return fail("bulk reply too big");
    bulk_len_ = n;
    return Step::kContinue;
  }
  if (static_cast<std::uint64_t>(n) > limits_.max_elements)
    return fail("too many elements in reply");
  return open_aggregate(type, n);
}

FrameStatus ReplyFramer::frame(std::string_view region, std::size_t& length) {
  length = 0;
  if (!error_.empty()) return FrameStatus::kError;
  assert(region.size() >= pos_ && "region must keep its start and only grow between calls");
  for (;;) {
    const Step step = bulk_len_ >= 0 ? read_payload(region) : read_header(region);
    if (step == Step::kNeedMore) return FrameStatus::kNeedMore;
    if (step == Step::kError) return FrameStatus::kError;
    if (step == Step::kComplete) {
      length = pos_;
      pos_ = scan_ = 0;
      bulk_len_ = -1;
      stack_.clear();
      elements_ = 0;
      return FrameStatus::kComplete;
    }
  }
}

std::optional<std::int64_t> integer_reply(std::string_view reply) {
  if (reply.size() < 4 || reply[0] != ':' || reply.substr(reply.size() - 2) != "\r\n") {
    return std::nullopt;
  }
  std::int64_t value = 0;
  if (!detail::parse_int64(reply.substr(1, reply.size() - 3), value)) return std::nullopt;
  return value;
}

bool split_array(std::string_view reply, std::vector<std::string_view>& elements) {
  if (reply.size() < 4 || reply[0] != '*') return false;
  const std::size_t cr = reply.find('\r');
  if (cr == std::string_view::npos || cr + 1 >= reply.size() || reply[cr + 1] != '\n') return false;
  std::int64_t count = 0;
  if (!detail::parse_int64(reply.substr(1, cr - 1), count) || count < 0) return false;
  std::size_t pos = cr + 2;
  // Every element takes at least 3 bytes ("_\r\n"): reject absurd counts before reserving.
  if (static_cast<std::uint64_t>(count) > (reply.size() - pos) / 3) return false;
  const std::size_t old_size = elements.size();
  elements.reserve(old_size + static_cast<std::size_t>(count));
  ReplyFramer framer;
  for (std::int64_t i = 0; i < count; ++i) {
    std::size_t length = 0;
    if (framer.frame(reply.substr(pos), length) != FrameStatus::kComplete) {
      elements.resize(old_size);
      return false;
    }
    elements.push_back(reply.substr(pos, length));
    pos += length;
  }
  if (pos != reply.size()) {
    elements.resize(old_size);
    return false;
  }
  return true;
}

}  // namespace sidecache::resp
