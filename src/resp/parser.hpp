// Incremental, resumable parser for client requests (RESP multibulk and the inline form).
//
// The caller owns the bytes. It passes the unconsumed region of its buffer; on kNeedMore the
// parser remembers how far it got (element granularity, offsets relative to the region start), so
// the next call with the same region start plus more bytes continues without rescanning. The
// region may move in memory between calls (buffer compaction); its content must not change.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sidecache::resp {

struct ParserLimits {
  std::size_t max_inline_bytes = 64 * 1024;        // inline line / multibulk header line
  std::size_t max_args = 1024 * 1024;              // elements of one multibulk request
  std::size_t max_bulk_bytes = 512 * 1024 * 1024;  // one argument
};

enum class ParseStatus {
  kCommand,   // one complete command in `out`; `consumed` bytes belong to it
  kNeedMore,  // incomplete; call again with the same region start and more bytes
  kError,     // protocol error; error() has the text for "-ERR Protocol error: <text>"
};

struct Command {
  // Arguments: views into the region passed to parse() (multibulk), or into parser-owned
  // storage (inline form). Valid until the next parse() call or until the region changes.
  std::vector<std::string_view> args;
  bool inline_form = false;  // raw bytes are not RESP; re-encode before forwarding
  // Where the command's own bytes start within what parse() reports as consumed: skipped
  // empty lines and empty multibulks come first and must not be forwarded.
  std::size_t start = 0;
};

class RequestParser {
 public:
  explicit RequestParser(const ParserLimits& limits = {});

  // Parses at most one command from the start of `region`. On kCommand, `consumed` is the number
  // of bytes of that command (its raw form is region.substr(0, consumed)). Empty inline lines
  // (also whitespace-only ones) and empty multibulks (`*0`, `*-1`, any count <= 0) are skipped as
  // Redis does: they count in `consumed` of the following command. If nothing follows them yet,
  // the result is kNeedMore; the skipped bytes are not rescanned on the next call.
  // On kNeedMore and kError, `consumed` is 0. After kError every call returns kError until
  // reset(). Error texts never contain CR or LF (a raw byte in "expected '$', got 'X'" is
  // replaced by a space, as Redis does when it formats error replies).
  ParseStatus parse(std::string_view region, Command& out, std::size_t& consumed);

  // Text after "Protocol error: " for the last kError, e.g. "invalid bulk length".
  std::string_view error() const { return error_; }

  // Bytes the parser knows it still needs for the pending command (a hint for read sizing;
  // 0 when unknown).
  std::size_t need_hint() const;

  void reset();

 private:
  enum class Step : unsigned char;  // outcome of one parsing step, see parser.cpp

  bool fast_number(std::string_view region, char prefix, std::size_t& p, std::int64_t& value) const;
  bool parse_whole(std::string_view region);
  Step read_count(std::string_view region);
  Step read_bulk_header(std::string_view region);
  Step read_bulk(std::string_view region);
  Step read_inline(std::string_view region);
  Step find_crlf(std::string_view region, const char* too_long, std::size_t& cr);
  const char* find_line_end(std::string_view region, char end);
  Step fail(std::string_view text);
  void emit(const char* base, bool inline_form, Command& out, std::size_t& consumed);

  // Implementation state, see parser.cpp.
  ParserLimits limits_;
  std::string error_;
  std::size_t pos_ = 0;          // offset in the region where parsing resumes
  std::size_t start_ = 0;        // offset of the current command's first byte
  std::size_t scan_ = 0;         // offset up to which the current line was searched
  std::size_t seen_ = 0;         // region size at the last call (for need_hint)
  bool nul_in_line_ = false;     // a NUL precedes the end of the current line: it never ends
  std::int64_t args_left_ = -1;  // -1: header not yet read
  std::int64_t bulk_len_ = -1;   // -1: bulk header not yet read
  std::vector<std::pair<std::size_t, std::size_t>> spans_;  // (offset, length) of parsed args
  std::string inline_storage_;
};

}  // namespace sidecache::resp
