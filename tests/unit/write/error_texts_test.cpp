// The write modes' error texts (write/errors.hpp), byte for byte as clients have always got them.
#include <catch2/catch.hpp>
#include <string>

#include "resp/errors.hpp"
#include "write/errors.hpp"

namespace sidecache::write {
namespace {

TEST_CASE("json policy texts keep their exact wording", "[write][errors]") {
  CHECK(errors::json_invalid("set", "users", "not a JSON object") ==
        "ERR SET on key of json policy 'users': not a JSON object");
  CHECK(errors::json_key_member("id", "users", "42") ==
        "ERR JSON member 'id' is the key column of policy 'users' and cannot be written (it may "
        "only repeat the key's id '42')");
  CHECK(errors::json_not_column("x", "users") ==
        "ERR JSON member 'x' is not a column of policy 'users'");
  CHECK(errors::json_no_column("mset", "users") ==
        "ERR MSET on key of json policy 'users': the JSON object holds no column to write");
  CHECK(errors::nothing_written(errors::json_not_column("x", "users")) ==
        "ERR JSON member 'x' is not a column of policy 'users'; nothing was written");
}

TEST_CASE("policy refusals keep their exact wording", "[write][errors]") {
  CHECK(errors::unmappable("incr", "users", "hash", errors::kUseHincrby) ==
        "ERR INCR cannot be written to the database on key of policy 'users' (mapping hash, "
        "write mode set): use HINCRBY on a hash policy key");
  CHECK(errors::kUseHset == "use HSET on a hash policy key");
  CHECK(errors::kUseIncrby == "use INCRBY on a column policy key");
  CHECK(errors::kUseSetJson == "use SET with a JSON object of the columns");
  CHECK(errors::kUseSetJsonKey == "use SET with a JSON object of the columns on a json policy key");
  CHECK(errors::kUseSetColumn == "use SET on a column policy key");
  CHECK(errors::kOnlyHash == "only HSET, HMSET, HINCRBY and DEL map to the row");
  CHECK(errors::kOnlyJson == "only SET of a JSON object and DEL map to the row");
  CHECK(errors::kOnlyColumn == "only SET, INCR, INCRBY, DECR, DECRBY and DEL map to the row");
  CHECK(errors::mset_hash_key("user:1", "users") ==
        "ERR MSET cannot write key 'user:1' of hash policy 'users': use HSET on it; nothing was "
        "written");
  CHECK(errors::script_write("eval", "user:1", "users", "through", false) ==
        "ERR EVAL on key 'user:1' of write policy 'users' is not allowed: a script's writes "
        "would bypass the database (write mode through); read it with EVAL_RO / EVALSHA_RO, "
        "write it with SET / HSET / DEL outside the script");
  CHECK(errors::script_write("fcall", "user:1", "users", "behind", true) ==
        "ERR FCALL on key 'user:1' of write policy 'users' is not allowed: a script's writes "
        "would bypass the database (write mode behind); read it with FCALL_RO, write it with "
        "SET / HSET / DEL outside the script");
  CHECK(errors::multi_key_write("rename", "user:1", "users", "invalidate", false) ==
        "ERR RENAME changes key 'user:1' of write policy 'users' (write mode invalidate): a "
        "multi-key write cannot be mapped to the database; write each key with SET (or DEL it) "
        "on its own");
  CHECK(errors::multi_key_write("copy", "h:1", "rows", "through", true) ==
        "ERR COPY changes key 'h:1' of write policy 'rows' (write mode through): a multi-key "
        "write cannot be mapped to the database; write each key with HSET (or DEL it) on its "
        "own");
  CHECK(errors::set_options("users") ==
        "ERR SET options (EX, PX, NX, XX, GET, KEEPTTL) are not supported on keys of write "
        "policy 'users': the policy sets the TTL");
  CHECK(errors::field_key_column("id", "users") ==
        "ERR field 'id' is the key column of policy 'users' and cannot be written");
  CHECK(errors::field_not_column("x", "users") ==
        "ERR field 'x' is not a column of policy 'users'");
  CHECK(errors::field_not_writable("x", "users") ==
        "ERR field 'x' is not a writable column of policy 'users'");
  CHECK(errors::in_transaction("set", "user:1", "users", "through") ==
        "ERR SET on key 'user:1' of write policy 'users' is not allowed inside MULTI: write "
        "modes need the database (write mode through), which a Redis transaction cannot "
        "include; send it outside MULTI");
}

TEST_CASE("database and write-behind texts keep their exact wording", "[write][errors]") {
  CHECK(errors::db_rejected("duplicate key") == "ERR database rejected the write: duplicate key");
  CHECK(errors::db_timed_out("after 2000 ms") == "ERR database write timed out: after 2000 ms");
  CHECK(errors::db_unavailable("sidecache is shutting down") ==
        "ERR database unavailable, nothing written: sidecache is shutting down");
  CHECK(errors::kDbQueueFull == "ERR database unavailable: the database queue is full");
  CHECK(errors::cache_delete_failed("READONLY You can't write against a read only replica.") ==
        "ERR the database was written but the cached key could not be deleted: READONLY You "
        "can't write against a read only replica.");
  CHECK(errors::kNoBehindQueue == "ERR no write-behind queue for this node");
  CHECK(resp::errors::frame(errors::kNoBehindQueue) ==
        "-ERR no write-behind queue for this node\r\n");
  CHECK(errors::behind_queue_full("a", 100000) ==
        "ERR write-behind queue of node a is full (queue_max 100000): the database is behind, "
        "retry later");
  CHECK(resp::errors::frame(errors::kBehindQueueFull) ==
        "-ERR write-behind queue is full: the database is behind, retry later\r\n");
}

TEST_CASE("generic texts the write modes share keep their exact wording", "[write][errors]") {
  CHECK(resp::errors::kNotInteger == "ERR value is not an integer or out of range");
  CHECK(resp::errors::kDecrementOverflow == "ERR decrement would overflow");
  CHECK(resp::errors::wrong_arity("hset") == "ERR wrong number of arguments for 'hset' command");
}

}  // namespace
}  // namespace sidecache::write
