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
};

struct Classified {
  enum class Kind {
    kPass,   // not ours: route as usual
    kWrite,  // writes (one per key; DEL/UNLINK may have several, with plain keys among them)
    kError,  // a write that cannot be mapped to the database: answer `error`
  };
  Kind kind = Kind::kPass;
  std::vector<KeyWrite> writes;
  std::vector<std::string> plain_keys;  // DEL/UNLINK: keys of no write policy
  bool unlink = false;
  std::string error;
};

// `name` is the lower-case command name, `args` the whole command, `writes_keys` whether the
// command table flags it as a write. Only policies whose write mode is not none count.
Classified classify(const cache::PolicySet& policies, std::string_view name,
                    std::span<const std::string_view> args, bool writes_keys);

}  // namespace sidecache::write
