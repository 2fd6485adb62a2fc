// Encoding of replies and requests into a caller-owned buffer (append only, no allocation
// beyond the buffer's growth). append_simple and append_error replace CR and LF in `text` with
// spaces, as Redis does, so a reply line can never desynchronize the client.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace sidecache::resp {

void append_simple(std::string& out, std::string_view text);  // +text
void append_error(std::string& out,
                  std::string_view text);  // -text (text includes prefix, e.g. "ERR ...")
void append_integer(std::string& out, std::int64_t value);      // :n
void append_bulk(std::string& out, std::string_view value);     // $len value
void append_null_bulk(std::string& out);                        // $-1
void append_null_array(std::string& out);                       // *-1
void append_array_header(std::string& out, std::size_t count);  // *count
void append_bulk_header(std::string& out, std::size_t length);  // $length (payload follows)
// RESP3 only: the null `_`, a map header (`%pairs`, 2 * pairs elements follow) and a verbatim
// string (`=len fmt:text`; `format` is three characters such as "txt").
void append_null(std::string& out);
void append_map_header(std::string& out, std::size_t pairs);
void append_verbatim(std::string& out, std::string_view format, std::string_view text);
// A request in multibulk form: *N $len arg ...
void append_command(std::string& out, std::span<const std::string_view> args);

struct Command;  // resp/parser.hpp
// A framed request as RESP, to forward: the client's bytes (`raw`) when they are RESP, or an
// inline command's arguments encoded into `scratch`.
std::string_view resp_form(const Command& command, std::string_view raw, std::string& scratch);

}  // namespace sidecache::resp
