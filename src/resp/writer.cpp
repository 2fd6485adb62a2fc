// RESP encoders appending to a caller-owned buffer. Each encoder builds its header in a small
// stack buffer and appends it in one call.
#include "resp/writer.hpp"

#include <charconv>
#include <cstddef>

#include "resp/parser.hpp"

namespace sidecache::resp {

namespace {

// "<prefix><n>\r\n" needs at most 1 + 20 + 2 bytes.
constexpr std::size_t kHeaderMax = 24;

template <typename Int>
std::size_t format_header(char (&buf)[kHeaderMax], char prefix, Int value) {
  buf[0] = prefix;
  const auto [end, ec] = std::to_chars(buf + 1, buf + kHeaderMax - 2, value);
  (void)ec;  // cannot fail: the buffer fits any 64-bit integer
  end[0] = '\r';
  end[1] = '\n';
  return static_cast<std::size_t>(end + 2 - buf);
}

template <typename Int>
void append_header(std::string& out, char prefix, Int value) {
  char buf[kHeaderMax];
  out.append(buf, format_header(buf, prefix, value));
}

// A line reply must not contain CR or LF (it would end the line early and desynchronize the
// client); like Redis, replace them with spaces.
void append_line(std::string& out, char prefix, std::string_view text) {
  const std::size_t start = out.size();
  out.reserve(start + text.size() + 3);
  out.push_back(prefix);
  out.append(text);
  for (std::size_t i = start + 1; i < out.size(); ++i) {
    if (out[i] == '\r' || out[i] == '\n') out[i] = ' ';
  }
  out.append("\r\n", 2);
}

std::size_t decimal_digits(std::size_t v) {
  std::size_t n = 1;
  for (; v >= 10; v /= 10) ++n;
  return n;
}

}  // namespace

void append_simple(std::string& out, std::string_view text) { append_line(out, '+', text); }

void append_error(std::string& out, std::string_view text) { append_line(out, '-', text); }

void append_integer(std::string& out, std::int64_t value) { append_header(out, ':', value); }

void append_bulk(std::string& out, std::string_view value) {
  out.reserve(out.size() + value.size() + kHeaderMax);
  append_header(out, '$', value.size());
  out.append(value);
  out.append("\r\n", 2);
}

void append_null_bulk(std::string& out) { out.append("$-1\r\n", 5); }

void append_null_array(std::string& out) { out.append("*-1\r\n", 5); }

void append_array_header(std::string& out, std::size_t count) { append_header(out, '*', count); }

void append_bulk_header(std::string& out, std::size_t length) { append_header(out, '$', length); }

void append_null(std::string& out) { out.append("_\r\n", 3); }

void append_map_header(std::string& out, std::size_t pairs) { append_header(out, '%', pairs); }

void append_verbatim(std::string& out, std::string_view format, std::string_view text) {
  append_header(out, '=', format.size() + 1 + text.size());
  out.append(format).append(1, ':').append(text).append("\r\n", 2);
}

void append_command(std::string& out, std::span<const std::string_view> args) {
  std::size_t total = 3 + decimal_digits(args.size());
  for (std::string_view arg : args) total += 5 + decimal_digits(arg.size()) + arg.size();
  out.reserve(out.size() + total);
  append_header(out, '*', args.size());
  for (std::string_view arg : args) {
    append_header(out, '$', arg.size());
    out.append(arg);
    out.append("\r\n", 2);
  }
}

std::string_view resp_form(const Command& command, std::string_view raw, std::string& scratch) {
  if (!command.inline_form) return raw;
  scratch.clear();
  append_command(scratch, command.args);
  return scratch;
}

}  // namespace sidecache::resp
