// Framing of backend replies without building a tree: find where one complete reply ends
// (skip mode), resumable across reads. Plus small decoders for the merge paths (split commands).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace sidecache::resp {

// There is no depth limit: nesting costs at least 4 bytes per level ("*1\r\n") and the framer's
// stack grows by at most one 8-byte entry per level, so its memory follows the bytes received;
// a chain of one-element aggregates (what a self-referencing Lua table gives) takes one entry.
struct ReplyLimits {
  std::size_t max_line_bytes = 64 * 1024;          // a number line (lengths, integers, ...)
  std::size_t max_bulk_bytes = 512 * 1024 * 1024;  // a bulk payload, or a simple string/error line
  // Total elements in one reply. Framing costs nothing per element, so the default only keeps
  // the counting overflow-free: an LRANGE of 100 million elements passes.
  std::size_t max_elements = std::size_t{1} << 32;
};

enum class FrameStatus { kComplete, kNeedMore, kError };

// Finds the end of one complete reply at the start of a region. Accepts every RESP2 type
// (+ - : $ *, null bulk and null array) and the RESP3 types (_ # , ( = % ~ | >) so the same
// framer serves RESP3 later. Same resumption contract as RequestParser.
class ReplyFramer {
 public:
  explicit ReplyFramer(const ReplyLimits& limits = {});
  // On kComplete, `length` is the byte length of the reply at region[0]; state is reset.
  // An attribute (`|`) and the value it precedes form one reply. The RESP3 blob error `!` is
  // framed like `$`. Streamed aggregates and strings (`*?`, `$?`, ...) are rejected as errors.
  // After kError every call returns kError until reset(). No allocation in the steady state
  // (the aggregate stack keeps its capacity).
  FrameStatus frame(std::string_view region, std::size_t& length);
  std::string_view error() const { return error_; }
  void reset();

 private:
  enum class Step : unsigned char;  // outcome of one framing step, see reply.cpp

  Step read_header(std::string_view region);
  Step read_payload(std::string_view region);
  Step open_aggregate(char type, std::int64_t count);
  bool close_element();  // true when the outermost value is complete
  void push_level(std::int64_t left);
  Step fail(const char* text);

  ReplyLimits limits_;
  std::string_view error_;
  std::size_t pos_ = 0;
  std::size_t scan_ = 0;        // offset up to which the current line was searched
  std::int64_t bulk_len_ = -1;  // payload length of a bulk whose header was read
  // Open aggregates, innermost last. An entry n > 1 is one aggregate with n elements left (the
  // one being framed included); an entry -k is k nested aggregates that each wait only for
  // their last element, which all complete together.
  std::vector<std::int64_t> stack_;
  std::size_t elements_ = 0;
};

// Decoders over one complete, already framed reply.
enum class ReplyType : char {
  kSimple = '+',
  kError = '-',
  kInteger = ':',
  kBulk = '$',
  kArray = '*',
  kNull = '_',
  kDouble = ',',
  kBoolean = '#',
  kBigNumber = '(',
  kVerbatim = '=',
  kMap = '%',
  kSet = '~',
  kAttribute = '|',
  kPush = '>',
};

inline bool is_error_reply(std::string_view reply) { return !reply.empty() && reply[0] == '-'; }

// ":<n>\r\n" -> n; nullopt for anything else.
std::optional<std::int64_t> integer_reply(std::string_view reply);

// For an array reply "*N\r\n<e1><e2>...": appends the N element byte ranges (each a complete
// reply) to `elements` and returns true. False for non-arrays, null arrays and malformed input.
bool split_array(std::string_view reply, std::vector<std::string_view>& elements);

}  // namespace sidecache::resp
