#include "write/errors.hpp"

namespace sidecache::write::errors {
namespace {

std::string upper(std::string_view name) {
  std::string out(name);
  for (char& ch : out) {
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
  }
  return out;
}

std::string str(std::string_view s) { return std::string(s); }

}  // namespace

std::string json_invalid(std::string_view command, std::string_view policy, std::string_view why) {
  return "ERR " + upper(command) + " on key of json policy '" + str(policy) + "': " + str(why);
}

std::string json_key_member(std::string_view member, std::string_view policy, std::string_view id) {
  return "ERR JSON member '" + str(member) + "' is the key column of policy '" + str(policy) +
         "' and cannot be written (it may only repeat the key's id '" + str(id) + "')";
}

std::string json_not_column(std::string_view member, std::string_view policy) {
  return "ERR JSON member '" + str(member) + "' is not a column of policy '" + str(policy) + "'";
}

std::string json_no_column(std::string_view command, std::string_view policy) {
  return "ERR " + upper(command) + " on key of json policy '" + str(policy) +
         "': the JSON object holds no column to write";
}

std::string unmappable(std::string_view command, std::string_view policy, std::string_view mapping,
                       std::string_view hint) {
  return "ERR " + upper(command) + " cannot be written to the database on key of policy '" +
         str(policy) + "' (mapping " + str(mapping) + ", write mode set): " + str(hint);
}

std::string mset_hash_key(std::string_view key, std::string_view policy) {
  return "ERR MSET cannot write key '" + str(key) + "' of hash policy '" + str(policy) +
         "': use HSET on it; nothing was written";
}

std::string nothing_written(std::string_view text) { return str(text) + "; nothing was written"; }

std::string script_write(std::string_view command, std::string_view key, std::string_view policy,
                         std::string_view mode, bool function) {
  return "ERR " + upper(command) + " on key '" + str(key) + "' of write policy '" + str(policy) +
         "' is not allowed: a script's writes would bypass the database (write mode " + str(mode) +
         "); read it with " + (function ? "FCALL_RO" : "EVAL_RO / EVALSHA_RO") +
         ", write it with SET / HSET / DEL outside the script";
}

std::string multi_key_write(std::string_view command, std::string_view key, std::string_view policy,
                            std::string_view mode, bool hash) {
  return "ERR " + upper(command) + " changes key '" + str(key) + "' of write policy '" +
         str(policy) + "' (write mode " + str(mode) +
         "): a multi-key write cannot be mapped to the database; write each key with " +
         (hash ? "HSET" : "SET") + " (or DEL it) on its own";
}

std::string set_options(std::string_view policy) {
  return "ERR SET options (EX, PX, NX, XX, GET, KEEPTTL) are not supported on keys of "
         "write policy '" +
         str(policy) + "': the policy sets the TTL";
}

std::string field_key_column(std::string_view field, std::string_view policy) {
  return "ERR field '" + str(field) + "' is the key column of policy '" + str(policy) +
         "' and cannot be written";
}

std::string field_not_column(std::string_view field, std::string_view policy) {
  return "ERR field '" + str(field) + "' is not a column of policy '" + str(policy) + "'";
}

std::string field_not_writable(std::string_view field, std::string_view policy) {
  return "ERR field '" + str(field) + "' is not a writable column of policy '" + str(policy) + "'";
}

std::string in_transaction(std::string_view command, std::string_view key, std::string_view policy,
                           std::string_view mode) {
  return "ERR " + upper(command) + " on key '" + str(key) + "' of write policy '" + str(policy) +
         "' is not allowed inside MULTI: write modes need the database (write mode " + str(mode) +
         "), which a Redis transaction cannot include; send it outside MULTI";
}

std::string db_rejected(std::string_view message) {
  return "ERR database rejected the write: " + str(message);
}

std::string db_timed_out(std::string_view message) {
  return "ERR database write timed out: " + str(message);
}

std::string db_unavailable(std::string_view message) {
  return "ERR database unavailable, nothing written: " + str(message);
}

std::string cache_delete_failed(std::string_view redis_error) {
  return "ERR the database was written but the cached key could not be deleted: " +
         str(redis_error);
}

std::string behind_queue_full(std::string_view node, std::uint64_t queue_max) {
  return "ERR write-behind queue of node " + str(node) + " is full (queue_max " +
         std::to_string(queue_max) + "): the database is behind, retry later";
}

}  // namespace sidecache::write::errors
