// Request parser: RESP multibulk and the inline form, resumable at element granularity.
//
// State between calls is (pos_, args_left_, bulk_len_, spans_): where to continue, how many
// arguments the current multibulk still needs, the length of the bulk whose header was read,
// and the (offset, length) of the arguments read so far. scan_ remembers how far an unfinished
// line was already searched, so a line arriving one byte per call is still scanned once.
// Offsets are relative to the region start, never pointers, so the region may move.
#include "resp/parser.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "resp/detail.hpp"

namespace sidecache::resp {

enum class RequestParser::Step : unsigned char {
  kContinue,  // progress made, keep going
  kNeedMore,  // wait for more bytes
  kError,     // error_ is set
  kDone,      // one command complete (inline form)
};

namespace {

constexpr std::size_t kMaxReserve = 1024;

bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool is_hex(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

unsigned hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

char unescape(unsigned char c) {
  switch (c) {
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    case 'b':
      return '\b';
    case 'a':
      return '\a';
    default:
      return static_cast<char>(c);
  }
}

using Spans = std::vector<std::pair<std::size_t, std::size_t>>;

enum class Quote { kNone, kDouble, kSingle };

// Reads one inline argument starting at line[p] (not a blank) into `store`. Follows the rules
// of Redis's sdssplitargs; a NUL byte ends the input like the end of the line does (a line
// holding a NUL never completes, see find_line_end, so this only guards the splitter). Returns
// false on unbalanced quotes or a closing quote glued to the next character.
bool split_one(std::string_view line, std::size_t& p, std::string& store) {
  auto at = [&](std::size_t i) -> unsigned char {
    return i < line.size() ? static_cast<unsigned char>(line[i]) : 0;
  };
  Quote quote = Quote::kNone;
  for (bool done = false; !done;) {
    const unsigned char c = at(p);
    if (quote == Quote::kDouble) {
      if (c == '\\' && at(p + 1) == 'x' && is_hex(at(p + 2)) && is_hex(at(p + 3))) {
        store.push_back(static_cast<char>(hex_value(at(p + 2)) * 16 + hex_value(at(p + 3))));
        p += 3;
      } else if (c == '\\' && at(p + 1) != 0) {
        store.push_back(unescape(at(++p)));
      } else if (c == '"') {
        if (at(p + 1) != 0 && !is_space(at(p + 1))) return false;
        done = true;
      } else if (c == 0) {
        return false;
      } else {
        store.push_back(static_cast<char>(c));
      }
    } else if (quote == Quote::kSingle) {
      if (c == '\\' && at(p + 1) == '\'') {
        store.push_back('\'');
        ++p;
      } else if (c == '\'') {
        if (at(p + 1) != 0 && !is_space(at(p + 1))) return false;
        done = true;
      } else if (c == 0) {
        return false;
      } else {
        store.push_back(static_cast<char>(c));
      }
    } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == 0) {
      done = true;
    } else if (c == '"') {
      quote = Quote::kDouble;
    } else if (c == '\'') {
      quote = Quote::kSingle;
    } else {
      store.push_back(static_cast<char>(c));
    }
    if (at(p) != 0) ++p;
  }
  return true;
}

// Splits an inline line into arguments stored back to back in `store`.
bool split_inline(std::string_view line, std::string& store, Spans& spans) {
  store.clear();
  store.reserve(line.size());  // unquoting never grows the text: no reallocation below
  spans.clear();
  std::size_t p = 0;
  for (;;) {
    while (p < line.size() && line[p] != 0 && is_space(static_cast<unsigned char>(line[p]))) ++p;
    if (p >= line.size() || line[p] == 0) return true;
    const std::size_t start = store.size();
    if (!split_one(line, p, store)) return false;
    spans.emplace_back(start, store.size() - start);
  }
}

}  // namespace

RequestParser::RequestParser(const ParserLimits& limits) : limits_(limits) {}

void RequestParser::reset() {
  error_.clear();
  nul_in_line_ = false;
  pos_ = scan_ = seen_ = start_ = 0;
  args_left_ = bulk_len_ = -1;
  spans_.clear();
  inline_storage_.clear();
}

std::size_t RequestParser::need_hint() const {
  if (args_left_ <= 0 || bulk_len_ < 0) return 0;
  const std::size_t need = pos_ + static_cast<std::size_t>(bulk_len_) + 2;
  return need > seen_ ? need - seen_ : 0;
}

RequestParser::Step RequestParser::fail(std::string_view text) {
  error_.assign(text);
  for (char& c : error_) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  if (error_.empty()) error_ = "unknown";
  return Step::kError;
}

// The first `end` byte of the line at pos_ not searched yet, or nullptr. Redis looks for line
// ends with strchr: a NUL before the end hides it, and the line then never ends (the client
// waits until the line is too long). That is kept here: once a NUL is seen, nothing is found.
const char* RequestParser::find_line_end(std::string_view region, char end) {
  if (nul_in_line_) return nullptr;
  const std::size_t from = std::max(scan_, pos_);
  const char* begin = region.data() + from;
  const auto* hit = static_cast<const char*>(std::memchr(begin, end, region.size() - from));
  const std::size_t searched =
      hit != nullptr ? static_cast<std::size_t>(hit - begin) : region.size() - from;
  if (std::memchr(begin, '\0', searched) != nullptr) {
    nul_in_line_ = true;
    return nullptr;
  }
  return hit;
}

// Finds the CR of the line starting at pos_ and checks the line length. kContinue with `cr` set
// once the CR and the byte after it are present (the caller checks that byte).
RequestParser::Step RequestParser::find_crlf(std::string_view region, const char* too_long,
                                             std::size_t& cr) {
  const char* hit = find_line_end(region, '\r');
  if (hit == nullptr) {
    scan_ = region.size();
    if (region.size() - pos_ > limits_.max_inline_bytes) return fail(too_long);
    return Step::kNeedMore;
  }
  cr = static_cast<std::size_t>(hit - region.data());
  if (cr - pos_ > limits_.max_inline_bytes) return fail(too_long);
  if (cr + 1 >= region.size()) {
    scan_ = cr;
    return Step::kNeedMore;
  }
  scan_ = 0;
  return Step::kContinue;
}

// "*<count>\r\n" at pos_ (region[pos_] == '*').
RequestParser::Step RequestParser::read_count(std::string_view region) {
  const std::size_t header_at = pos_;
  std::size_t cr = 0;
  if (Step s = find_crlf(region, "too big mbulk count string", cr); s != Step::kContinue) return s;
  std::int64_t n = 0;
  if (region[cr + 1] != '\n' || !detail::parse_int64(region.substr(pos_ + 1, cr - pos_ - 1), n) ||
      (n > 0 && static_cast<std::uint64_t>(n) > limits_.max_args)) {
    return fail("invalid multibulk length");
  }
  pos_ = cr + 2;
  if (n <= 0) return Step::kContinue;  // empty multibulk: skipped, like Redis
  start_ = header_at;
  args_left_ = n;
  spans_.clear();
  spans_.reserve(std::min<std::size_t>(static_cast<std::size_t>(n), kMaxReserve));
  return Step::kContinue;
}

// "$<len>\r\n" at pos_.
RequestParser::Step RequestParser::read_bulk_header(std::string_view region) {
  std::size_t cr = 0;
  if (Step s = find_crlf(region, "too big bulk count string", cr); s != Step::kContinue) return s;
  if (region[pos_] != '$') {
    return fail(std::string("expected '$', got '") + region[pos_] + "'");
  }
  std::int64_t len = 0;
  if (region[cr + 1] != '\n' || !detail::parse_int64(region.substr(pos_ + 1, cr - pos_ - 1), len) ||
      len < 0 || static_cast<std::uint64_t>(len) > limits_.max_bulk_bytes) {
    return fail("invalid bulk length");
  }
  pos_ = cr + 2;
  bulk_len_ = len;
  return Step::kContinue;
}

// The payload of a bulk whose header was read, and its CRLF.
RequestParser::Step RequestParser::read_bulk(std::string_view region) {
  const auto len = static_cast<std::size_t>(bulk_len_);
  if (region.size() - pos_ < len + 2) return Step::kNeedMore;
  if (region[pos_ + len] != '\r' || region[pos_ + len + 1] != '\n') {
    return fail("expected CRLF after bulk argument");
  }
  spans_.emplace_back(pos_, len);
  pos_ += len + 2;
  bulk_len_ = -1;
  --args_left_;
  return Step::kContinue;
}

// One inline line at pos_: ends at LF, with an optional CR before it.
RequestParser::Step RequestParser::read_inline(std::string_view region) {
  const char* hit = find_line_end(region, '\n');
  if (hit == nullptr) {
    scan_ = region.size();
    // A trailing CR may be the one before the LF, which is not part of the line.
    const bool cr_last = region.back() == '\r' && !nul_in_line_;
    const std::size_t line = region.size() - pos_ - (cr_last ? 1 : 0);
    if (line > limits_.max_inline_bytes) return fail("too big inline request");
    return Step::kNeedMore;
  }
  scan_ = 0;
  const auto lf = static_cast<std::size_t>(hit - region.data());
  std::size_t end = lf;
  if (end > pos_ && region[end - 1] == '\r') --end;
  if (end - pos_ > limits_.max_inline_bytes) return fail("too big inline request");
  start_ = pos_;
  if (!split_inline(region.substr(pos_, end - pos_), inline_storage_, spans_)) {
    return fail("unbalanced quotes in request");
  }
  if (spans_.size() > limits_.max_args) return fail("invalid multibulk length");
  pos_ = lf + 1;
  return spans_.empty() ? Step::kContinue : Step::kDone;  // an empty line is skipped
}

// "<prefix><digits>\r\n" at `p` with the digits in canonical form (no sign, no leading zero,
// at most 18 of them: no overflow), the line within the inline limit; `p` then moves past the
// LF. False for anything else, which the step machine then parses (or rejects) as usual.
bool RequestParser::fast_number(std::string_view region, char prefix, std::size_t& p,
                                std::int64_t& value) const {
  const std::size_t size = region.size();
  if (p >= size || region[p] != prefix) return false;
  std::size_t q = p + 1;
  std::int64_t v = 0;
  const std::size_t last = std::min(size, q + 18);
  for (; q < last && region[q] >= '0' && region[q] <= '9'; ++q) v = v * 10 + (region[q] - '0');
  const std::size_t digits = q - p - 1;
  if (digits == 0 || (region[p + 1] == '0' && digits > 1)) return false;
  if (q + 1 >= size || region[q] != '\r' || region[q + 1] != '\n') return false;
  if (q - p > limits_.max_inline_bytes) return false;
  value = v;
  p = q + 2;
  return true;
}

// The common case in one pass: a complete multibulk at pos_ whose count and bulk lengths are
// canonical and within the limits. It ends where the step machine would end on the same bytes
// (spans_, start_, pos_); anything else (incomplete, unusual, an error) leaves the state as it
// was and returns false, for the step machine to parse from pos_.
bool RequestParser::parse_whole(std::string_view region) {
  std::size_t p = pos_;
  std::int64_t n = 0;
  if (nul_in_line_ || !fast_number(region, '*', p, n) || n <= 0 ||
      static_cast<std::uint64_t>(n) > limits_.max_args) {
    return false;
  }
  spans_.clear();
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t len = 0;
    if (!fast_number(region, '$', p, len) ||
        static_cast<std::uint64_t>(len) > limits_.max_bulk_bytes ||
        region.size() - p < static_cast<std::size_t>(len) + 2 ||
        region[p + static_cast<std::size_t>(len)] != '\r' ||
        region[p + static_cast<std::size_t>(len) + 1] != '\n') {
      spans_.clear();
      return false;
    }
    spans_.emplace_back(p, static_cast<std::size_t>(len));
    p += static_cast<std::size_t>(len) + 2;
  }
  start_ = pos_;
  pos_ = p;
  return true;
}

void RequestParser::emit(const char* base, bool inline_form, Command& out, std::size_t& consumed) {
  out.args.clear();
  out.args.reserve(spans_.size());
  for (const auto& [offset, length] : spans_) out.args.emplace_back(base + offset, length);
  out.inline_form = inline_form;
  out.start = start_;
  consumed = pos_;
  pos_ = scan_ = start_ = 0;
  args_left_ = bulk_len_ = -1;
  spans_.clear();
}

ParseStatus RequestParser::parse(std::string_view region, Command& out, std::size_t& consumed) {
  consumed = 0;
  if (!error_.empty()) return ParseStatus::kError;
  assert(region.size() >= pos_ && "region must keep its start and only grow between calls");
  seen_ = region.size();
  for (;;) {
    Step step;
    if (args_left_ < 0) {
      if (pos_ >= region.size()) return ParseStatus::kNeedMore;
      if (parse_whole(region)) {
        emit(region.data(), false, out, consumed);
        return ParseStatus::kCommand;
      }
      step = region[pos_] == '*' ? read_count(region) : read_inline(region);
      if (step == Step::kDone) {
        emit(inline_storage_.data(), true, out, consumed);
        return ParseStatus::kCommand;
      }
    } else if (args_left_ == 0) {
      emit(region.data(), false, out, consumed);
      return ParseStatus::kCommand;
    } else {
      step = bulk_len_ < 0 ? read_bulk_header(region) : read_bulk(region);
    }
    if (step == Step::kNeedMore) return ParseStatus::kNeedMore;
    if (step == Step::kError) return ParseStatus::kError;
  }
}

}  // namespace sidecache::resp
