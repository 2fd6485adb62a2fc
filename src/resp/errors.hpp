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

// Authentication and ACL replies, byte for byte as redis-server 7.0 words them.
inline constexpr std::string_view kNoAuth = "NOAUTH Authentication required.";
inline constexpr std::string_view kNoAuthHello =
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
    "AUTH <user> <pass> option can be used to authenticate the client and select the RESP "
    "protocol version at the same time";
inline constexpr std::string_view kWrongPass =
    "WRONGPASS invalid username-password pair or user is disabled.";
inline constexpr std::string_view kNoPermKey =
    "NOPERM this user has no permissions to access one of the keys used as arguments";
inline constexpr std::string_view kNoPermChannel =
    "NOPERM this user has no permissions to access one of the channels used as arguments";
// "NOPERM this user has no permissions to run the 'config|get' command"
std::string no_perm_command(std::string_view full_name);
// "ERR command 'flushall' is disabled by sidecache configuration" (commands.deny)
std::string disabled(std::string_view full_name);

// Redis error replies are one line: replace CR/LF in client-provided text.
std::string one_line(std::string_view text);

}  // namespace sidecache::dispatch::errors
