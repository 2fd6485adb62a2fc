// Texts of the errors sidecache itself answers, in one place (Redis wording where Redis has one).
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace sidecache::dispatch::errors {

// "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
std::string unknown_command(std::span<const std::string_view> args);
// "ERR unknown subcommand 'x'. Try CONFIG HELP."
std::string unknown_subcommand(std::string_view container, std::string_view sub);
// "ERR wrong number of arguments for 'get' command"
std::string wrong_arity(std::string_view full_name);
std::string rejected(std::string_view name, std::string_view note);
std::string unsupported(std::string_view name, std::string_view note);

inline constexpr std::string_view kCrossSlot =
    "CROSSSLOT Keys in request don't hash to the same node";
inline constexpr std::string_view kSyntax = "ERR syntax error";
inline constexpr std::string_view kNotInteger = "ERR value is not an integer or out of range";

// Redis error replies are one line: replace CR/LF in client-provided text.
std::string one_line(std::string_view text);

}  // namespace sidecache::dispatch::errors
