// Which client commands are writes on a write-mode policy key, and what they mean for the
// database row. Asio-free.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cache/policy.hpp"
#include "cache/policy_chain.hpp"
#include "write/json_row.hpp"

namespace sidecache::write {

enum class Op { kSet, kIncr, kHset, kHincr, kDel };

// One write to one policy key.
struct KeyWrite {
  std::string key;
  std::string id;
  const cache::Policy* policy = nullptr;
  Op op = Op::kSet;
  std::string value;                                        // kSet
  std::vector<std::pair<std::string, std::string>> fields;  // kHset
  std::string field;                                        // kHincr
  std::int64_t delta = 0;                                   // kIncr, kHincr
  JsonColumns columns;  // kSet on a json policy: the object's members (the key column left out)
};

struct Classified {
  enum class Kind {
    kPass,   // not ours: route as usual
    kWrite,  // writes (one per key; DEL/UNLINK and MSET may have several, with plain keys)
    kError,  // a write that cannot be mapped to the database: answer `error`
  };
  Kind kind = Kind::kPass;
  std::vector<KeyWrite> writes;
  std::vector<std::string> plain_keys;  // DEL/UNLINK: keys of no write policy
  std::vector<std::pair<std::string, std::string>> plain_sets;  // MSET: key, value of plain keys
  bool unlink = false;
  std::string error;
};

// `request` is the command (its cache role, and whether the command table flags it as a write),
// its arguments and its keys' policy matches. Only policies whose write mode is not none count.
// Every key of the command is looked at (the command table's key specs): MSET becomes one SET per
// key (plain keys in `plain_sets`); any other multi-key write (MSETNX, RENAME, COPY, LMOVE,
// SUNIONSTORE, ...) that changes a key of a write policy, at any position, is an error naming the
// key and the policy; keys it only reads pass. Scripts (EVAL, EVALSHA, FCALL) whose KEYS hold a
// write-policy key are an error too (their writes would bypass the database); EVAL_RO / FCALL_RO
// pass. TTL commands (EXPIRE, PERSIST, TOUCH, ...) pass.
Classified classify(cache::ChainRequest& request);

// For a command queued inside MULTI: an error text when it writes a key of a write policy (the
// write modes need the database, which a Redis transaction cannot include), or an error of
// classify(); empty when it may be queued (plain keys, reads, a DEL that only drops cached
// copies).
std::string refusal_in_transaction(cache::ChainRequest& request);

}  // namespace sidecache::write
