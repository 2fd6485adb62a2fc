// Texts of the errors the write modes (invalidate, through, behind) answer, in one place: the
// policy refusals (a command that cannot be mapped to the database row), the database outcomes
// and the write-behind queue. Without the leading '-' and the CRLF, which resp::append_error()
// adds (resp::errors::frame() for a whole frame). The generic Redis texts (not an integer, wrong
// number of arguments, ...) are resp/errors.hpp's, shared with every module.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sidecache::write::errors {

// Command names are given as Redis names them ("set", "hincrby") and shown upper-case; `policy`
// is the policy's name, `mode` its write mode ("invalidate", "through", "behind").

// SET / MSET of a json policy key: a JSON object of the row's columns.
// "ERR SET on key of json policy 'users': <why the value is not a JSON object>"
std::string json_invalid(std::string_view command, std::string_view policy, std::string_view why);
// "ERR JSON member 'id' is the key column of policy 'users' and cannot be written (it may only
// repeat the key's id '42')"
std::string json_key_member(std::string_view member, std::string_view policy, std::string_view id);
// "ERR JSON member 'x' is not a column of policy 'users'"
std::string json_not_column(std::string_view member, std::string_view policy);
// "ERR SET on key of json policy 'users': the JSON object holds no column to write"
std::string json_no_column(std::string_view command, std::string_view policy);

// A command that does not map to the row: "ERR INCR cannot be written to the database on key of
// policy 'users' (mapping hash, write mode set): use HINCRBY on a hash policy key" (`hint`: one
// of the kUse.../kOnly... below).
std::string unmappable(std::string_view command, std::string_view policy, std::string_view mapping,
                       std::string_view hint);
inline constexpr std::string_view kUseHset = "use HSET on a hash policy key";
inline constexpr std::string_view kUseHincrby = "use HINCRBY on a hash policy key";
inline constexpr std::string_view kUseIncrby = "use INCRBY on a column policy key";
inline constexpr std::string_view kUseSetJson = "use SET with a JSON object of the columns";
inline constexpr std::string_view kUseSetJsonKey =
    "use SET with a JSON object of the columns on a json policy key";
inline constexpr std::string_view kUseSetColumn = "use SET on a column policy key";
inline constexpr std::string_view kOnlyHash = "only HSET, HMSET, HINCRBY and DEL map to the row";
inline constexpr std::string_view kOnlyJson = "only SET of a JSON object and DEL map to the row";
inline constexpr std::string_view kOnlyColumn =
    "only SET, INCR, INCRBY, DECR, DECRBY and DEL map to the row";

// MSET checks every pair before writing anything.
// "ERR MSET cannot write key 'user:1' of hash policy 'users': use HSET on it; nothing was written"
std::string mset_hash_key(std::string_view key, std::string_view policy);
// `text` + "; nothing was written" (an MSET pair's error)
std::string nothing_written(std::string_view text);

// "ERR EVAL on key 'user:1' of write policy 'users' is not allowed: a script's writes would
// bypass the database (write mode through); read it with EVAL_RO / EVALSHA_RO, write it with
// SET / HSET / DEL outside the script" (FCALL: "read it with FCALL_RO")
std::string script_write(std::string_view command, std::string_view key, std::string_view policy,
                         std::string_view mode, bool function);
// "ERR RENAME changes key 'user:1' of write policy 'users' (write mode through): a multi-key
// write cannot be mapped to the database; write each key with SET (or DEL it) on its own"
// (HSET for a hash policy)
std::string multi_key_write(std::string_view command, std::string_view key, std::string_view policy,
                            std::string_view mode, bool hash);
// "ERR SET options (EX, PX, NX, XX, GET, KEEPTTL) are not supported on keys of write policy
// 'users': the policy sets the TTL"
std::string set_options(std::string_view policy);

// HSET / HMSET / HINCRBY fields.
// "ERR field 'id' is the key column of policy 'users' and cannot be written"
std::string field_key_column(std::string_view field, std::string_view policy);
// "ERR field 'x' is not a column of policy 'users'"
std::string field_not_column(std::string_view field, std::string_view policy);
// "ERR field 'x' is not a writable column of policy 'users'" (HINCRBY)
std::string field_not_writable(std::string_view field, std::string_view policy);

// "ERR SET on key 'user:1' of write policy 'users' is not allowed inside MULTI: write modes need
// the database (write mode through), which a Redis transaction cannot include; send it outside
// MULTI"
std::string in_transaction(std::string_view command, std::string_view key, std::string_view policy,
                           std::string_view mode);

// The database's outcome (`message`: the database's own words).
// "ERR database rejected the write: <message>"
std::string db_rejected(std::string_view message);
// "ERR database write timed out: <message>"
std::string db_timed_out(std::string_view message);
// "ERR database unavailable, nothing written: <message>"
std::string db_unavailable(std::string_view message);
inline constexpr std::string_view kDbQueueFull =
    "ERR database unavailable: the database queue is full";
// "ERR the database was written but the cached key could not be deleted: <Redis's error text>"
std::string cache_delete_failed(std::string_view redis_error);

// The write-behind queue.
inline constexpr std::string_view kNoBehindQueue = "ERR no write-behind queue for this node";
// "ERR write-behind queue of node a is full (queue_max 10000): the database is behind, retry
// later"
std::string behind_queue_full(std::string_view node, std::uint64_t queue_max);
// The same, for a DEL's key (the node is not named).
inline constexpr std::string_view kBehindQueueFull =
    "ERR write-behind queue is full: the database is behind, retry later";

}  // namespace sidecache::write::errors
