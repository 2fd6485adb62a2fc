// What a policy key holds in Redis, how a database row becomes it, and the RESP that reads,
// stores and answers it. Asio-free.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "db/database.hpp"
#include "resp/command_table.hpp"

namespace sidecache::cache {

// A cached value: a string (column, json) or the fields of a hash.
struct Value {
  bool is_hash = false;
  std::string text;
  std::vector<std::pair<std::string, std::string>> fields;
};

// Why a load failed, as a metric label.
enum class LoadError { kNone, kUnavailable, kTimeout, kRejected, kQueueFull, kShutdown, kWait };
inline constexpr const char* kLoadErrorNames[] = {
    "none", "unavailable", "timeout", "rejected", "queue_full", "shutdown", "wait_timeout"};
inline constexpr std::size_t kLoadErrorCount = 7;

// The outcome of one key's load, shared by every waiter.
struct LoadResult {
  enum class Kind { kValue, kAbsent, kError };
  Kind kind = Kind::kAbsent;
  Value value;
  LoadError error = LoadError::kNone;
  std::string reason;  // for the error reply
};
using LoadResultPtr = std::shared_ptr<const LoadResult>;

LoadError load_error_of(db::ErrorKind kind);

// The cached value of a row under `policy`'s mapping; nullopt when the row has no value
// (the value column is NULL, or a hash would have no field): cached as absent.
std::optional<Value> map_row(const config::CachePolicy& policy, const db::Row& row);

// The client commands the engine reads through.
enum class ReadOp { kGet, kMget, kHget, kHmget, kHgetall, kHexists, kHlen, kNone };
ReadOp read_op(resp::CacheRole role);

// The reply Redis would give to `args` (a single-key read op) for `value`, or for a missing
// key when `value` is null, in RESP `protocol` (2, or 3: null `_`, HGETALL a map).
void render(ReadOp op, std::span<const std::string> args, const Value* value, std::string& out,
            int protocol = 2);
// A null reply in RESP `protocol`.
std::string_view null_reply(int protocol);

// Decoders of complete replies. The payload of a bulk reply ("$n\r\n...\r\n"), nullopt for a
// null bulk or another type.
std::optional<std::string_view> bulk_payload(std::string_view reply);
bool is_null_reply(std::string_view reply);
// The fields of an HGETALL reply; false when it is not an array of bulks.
bool hash_fields(std::string_view reply, std::vector<std::pair<std::string, std::string>>& out);

// Requests (RESP multibulk).
std::string command(std::initializer_list<std::string_view> args);
std::string command(std::span<const std::string> args);
// The requests that store `value` under `key` for `ttl_ms`: one SET .. PX, or MULTI, DEL,
// HSET, PEXPIRE, EXEC (a hash). Each element is one request (one reply). `one_request` (a
// cluster pool, where each request may be redirected on its own and a MULTI would not follow
// a moved slot): a hash is stored by one EVAL of kStoreHashScript instead.
std::vector<std::string> store_requests(std::string_view key, const Value& value,
                                        std::int64_t ttl_ms, bool one_request = false);
// KEYS key; ARGV ttl_ms, then fields and values: replaces the hash and sets its expiry.
inline constexpr std::string_view kStoreHashScript =
    "redis.call('del', KEYS[1]) redis.call('hset', KEYS[1], unpack(ARGV, 2)) "
    "return redis.call('pexpire', KEYS[1], ARGV[1])";

// Markers kept in a string policy's key itself (see Engine: the policies whose markers are in
// the key): the negative marker, and a load's lease (the prefix, then the holder's token). Both
// start with a NUL byte: no value a database row plausibly maps to equals them.
inline constexpr char kNegativeMarkerText[] = "\0sidecache:neg";
inline constexpr char kLeaseMarkerPrefix[] = "\0sidecache:lease:";
inline constexpr std::string_view kNegativeMarker{kNegativeMarkerText,
                                                  sizeof(kNegativeMarkerText) - 1};
inline constexpr std::string_view kLeaseMarker{kLeaseMarkerPrefix, sizeof(kLeaseMarkerPrefix) - 1};
std::string lease_marker(std::string_view token);  // kLeaseMarker + token
// SET key <lease_marker(token)> NX GET PX ttl_ms: the read of a string policy with a lease.
std::string lease_read_command(std::string_view key, std::string_view token, std::int64_t ttl_ms);
enum class Marker { kNone, kNegative, kLease };
// What a string value read from a policy key is: a value (kNone) or one of the markers.
Marker marker_of(std::string_view payload);

// The Redis keys of the metadata kept beside a policy key (hash policies and the policies a
// store hook takes; refresh and warming leases of every policy): cache/side_keys.hpp.
// Deletes KEYS[1] only when it still holds ARGV[1] (the lease token, or the lease marker).
inline constexpr std::string_view kReleaseScript =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
    "else return 0 end";
// Sets KEYS[1] to ARGV[2] with PX ARGV[3] only when it still holds ARGV[1] (our lease marker):
// a client write (or invalidation) that came during the load wins. 1: stored, 0: not.
inline constexpr std::string_view kStoreIfLeasedScript =
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "redis.call('set', KEYS[1], ARGV[2], 'px', ARGV[3]) return 1 else return 0 end";

}  // namespace sidecache::cache
