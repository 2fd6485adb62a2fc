// Framing of backend replies without building a tree: find where one complete reply ends
// (skip mode), resumable across reads. Plus small decoders for the merge paths (split commands).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace sidecache::resp {

struct ReplyLimits {
  std::size_t max_line_bytes = 64 * 1024;
  std::size_t max_bulk_bytes = 512 * 1024 * 1024;
  std::size_t max_depth = 64;                   // nesting of aggregates
  std::size_t max_elements = 64 * 1024 * 1024;  // total elements in one reply
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
  Step fail(const char* text);

  ReplyLimits limits_;
  std::string_view error_;
  std::size_t pos_ = 0;
  std::size_t scan_ = 0;             // offset up to which the current line was searched
  std::int64_t bulk_len_ = -1;       // payload length of a bulk whose header was read
  std::vector<std::int64_t> stack_;  // elements left per open aggregate
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
