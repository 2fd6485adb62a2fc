// Texts of the errors sidecache itself answers, in one place (Redis wording where Redis has one):
// without the leading '-' and the CRLF, which resp::append_error() adds. Here, at the bottom of
// the module graph, so that every module answers with the same words.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace sidecache::resp::errors {

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
// A cluster pool's, in Redis Cluster's words.
inline constexpr std::string_view kCrossSlotCluster =
    "CROSSSLOT Keys in request don't hash to the same slot";
inline constexpr std::string_view kSyntax = "ERR syntax error";
inline constexpr std::string_view kNotInteger = "ERR value is not an integer or out of range";
inline constexpr std::string_view kDecrementOverflow = "ERR decrement would overflow";  // DECRBY
// "ERR Can't execute 'set': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are
// allowed in this context" (a RESP2 connection in subscribe mode)
std::string subscribed_context(std::string_view name);

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

// The request framing: "ERR Protocol error: <what the parser found>" (the client is closed).
std::string protocol_error(std::string_view text);
inline constexpr std::string_view kMaxClients = "ERR max number of clients reached";

// Key positions, as the commands themselves check their numkeys (resp/command_table.cpp).
inline constexpr std::string_view kNegativeNumkeys = "ERR Number of keys can't be negative";
inline constexpr std::string_view kTooManyNumkeys =
    "ERR Number of keys can't be greater than number of args";
inline constexpr std::string_view kBadFunctionNumkeys = "ERR Bad number of keys provided";
inline constexpr std::string_view kNumkeysNotPositive = "ERR numkeys should be greater than 0";
inline constexpr std::string_view kUnbalancedStreams =
    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.";
// "ERR at least 1 input key is needed for 'zunion' command"
std::string no_input_key(std::string_view name);

// Commands sidecache answers itself (Redis wording).
inline constexpr std::string_view kOnlyDatabaseZero = "ERR sidecache serves only database 0";
inline constexpr std::string_view kAuthWithoutPassword =
    "ERR AUTH <password> called without any password configured for the default user. Are you "
    "sure your configuration is correct?";
inline constexpr std::string_view kProtocolVersion =
    "ERR Protocol version is not an integer or out of range";
inline constexpr std::string_view kNoProto = "NOPROTO unsupported protocol version";
inline constexpr std::string_view kBadClientName =
    "ERR Client names cannot contain spaces, newlines or special characters.";
inline constexpr std::string_view kBadLibName =
    "ERR lib-name cannot contain spaces, newlines or special characters.";
inline constexpr std::string_view kBadLibVersion =
    "ERR lib-ver cannot contain spaces, newlines or special characters.";
// "ERR Syntax error in HELLO option 'x'"
std::string hello_option(std::string_view option);
// "ERR Unrecognized option 'x'" (CLIENT SETINFO)
std::string unrecognized_option(std::string_view option);
inline constexpr std::string_view kInvalidCommand = "ERR Invalid command specified";
inline constexpr std::string_view kInvalidCommandArity =
    "ERR Invalid number of arguments specified for command";
inline constexpr std::string_view kNoKeyArguments = "ERR The command has no key arguments";
inline constexpr std::string_view kInvalidCursor = "ERR invalid cursor";
// SIDECACHE HOTKEYS.
inline constexpr std::string_view kHotKeysOff =
    "ERR hot-key detection is off (hotkeys.enabled: false)";
inline constexpr std::string_view kHotKeysCount = "ERR COUNT must be between 1 and 10000";

// Transactions (Redis wording), and what sidecache cannot queue.
inline constexpr std::string_view kExecWithoutMulti = "ERR EXEC without MULTI";
inline constexpr std::string_view kDiscardWithoutMulti = "ERR DISCARD without MULTI";
inline constexpr std::string_view kNestedMulti = "ERR MULTI calls can not be nested";
inline constexpr std::string_view kWatchInMulti = "ERR WATCH inside MULTI is not allowed";
inline constexpr std::string_view kExecAbort =
    "EXECABORT Transaction discarded because of previous errors.";
// "ERR sidecache: 'x' cannot be queued in a transaction through sidecache"
std::string not_queueable(std::string_view name);
inline constexpr std::string_view kBlockingWithoutKeys =
    "ERR sidecache: a blocking command needs keys";

// The read-through cache (cache/).
// "ERR sidecache: cannot load user:1: <the loader's reason>"
std::string cannot_load(std::string_view key, std::string_view reason);
// "ERR sidecache: cannot load user:1: no result within 500 ms" (the policy's load_timeout)
std::string load_timed_out(std::string_view key, std::int64_t timeout_ms);
inline constexpr std::string_view kNotReadThrough = "ERR sidecache: not a read-through command";

// Replies sidecache combines from several nodes.
inline constexpr std::string_view kUnexpectedMergeReply =
    "ERR sidecache: unexpected reply from a node while merging";
inline constexpr std::string_view kNodesDisagree = "ERR sidecache: nodes answered differently";
inline constexpr std::string_view kUnexpectedScanReply =
    "ERR sidecache: unexpected SCAN reply from a node";
inline constexpr std::string_view kScanCursorTooWide =
    "ERR sidecache: a node's SCAN cursor does not fit in 54 bits";
// "ERR sidecache: SCAN supports at most 512 nodes"
std::string scan_too_many_nodes(std::size_t max_nodes);

// Nodes and the connections to them.
// "ERR node a is down"
std::string node_down(std::string_view node);
// "ERR sidecache: no primary known for Sentinel master 'm': <why>" (a sentinel pool)
std::string no_primary(std::string_view master, std::string_view why);
// "ERR node a: authentication failed"
std::string node_auth_failed(std::string_view node);
// "ERR backend 'a' timed out after 500 ms" (`what`: what happened to the request)
std::string backend_failed(std::string_view node, std::string_view what);
// "ERR sidecache: dedicated connection to node 'a' lost (reason), outcome unknown"
std::string dedicated_link_lost(std::string_view node, std::string_view reason);
// "ERR sidecache: too many dedicated connections to node a (pool.max_dedicated_connections=N)"
std::string too_many_dedicated(std::string_view node, std::size_t max);

// The same error as a whole RESP frame ("-" text CRLF), for code that writes frames directly.
// `text` must be one line.
std::string frame(std::string_view text);

}  // namespace sidecache::resp::errors
