#include "write/commands.hpp"

#include <algorithm>
#include <charconv>
#include <climits>

#include "resp/command_table.hpp"
#include "resp/errors.hpp"
#include "write/errors.hpp"

namespace sidecache::write {
namespace {

using config::ValueMapping;
using config::WriteMode;

using resp::CacheRole;

// The write policy of argument `i` (a key), or nullptr; the key's match is the request's (made
// once per request, whichever step asks first).
const cache::Policy* write_policy(cache::ChainRequest& request, std::size_t i,
                                  std::string_view& id) {
  const auto& m = request.match(i);
  if (m.policy == nullptr || m.policy->config.write == WriteMode::kNone) return nullptr;
  id = m.id;
  return m.policy;
}

bool parse_int(std::string_view text, std::int64_t& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

Classified error(std::string text) {
  Classified c;
  c.kind = Classified::Kind::kError;
  c.error = std::move(text);
  return c;
}

std::string mapping_name(const cache::Policy& p) {
  switch (p.config.mapping) {
    case ValueMapping::kHash:
      return "hash";
    case ValueMapping::kJson:
      return "json";
    case ValueMapping::kColumn:
      break;
  }
  return "column";
}

std::string_view mode_name(WriteMode mode) {
  switch (mode) {
    case WriteMode::kInvalidate:
      return "invalidate";
    case WriteMode::kThrough:
      return "through";
    case WriteMode::kBehind:
      return "behind";
    case WriteMode::kNone:
      break;
  }
  return "none";
}

bool is_json(const cache::Policy& p) { return p.config.mapping == ValueMapping::kJson; }

// One key argument of a request, and whether the command may change it (a key spec that is not
// read-only; a key found outside the key specs, as SORT's STORE, counts as changed).
struct KeyUse {
  std::uint32_t index = 0;
  bool written = true;
};

// False when the request's keys cannot be found (a malformed numkeys): the normal routing
// answers that error.
bool key_uses(const resp::CommandInfo& info, std::span<const std::string_view> args,
              std::vector<KeyUse>& out) {
  std::vector<std::uint32_t> all;
  std::string error;
  if (!resp::key_indexes(info, args, all, error)) return false;
  std::vector<std::uint8_t> seen(args.size(), 0);  // 1: read only so far, 2: changed
  std::vector<std::uint32_t> one;
  for (std::size_t s = 0; s < info.key_specs.size(); ++s) {
    const auto& spec = info.key_specs[s];
    if ((spec.flags & resp::kKeyNotKey) != 0) continue;
    resp::CommandInfo single = info;
    single.key_specs = info.key_specs.subspan(s, 1);
    if (single.quirk == resp::KeyQuirk::kSort || single.quirk == resp::KeyQuirk::kMigrate) {
      single.quirk = resp::KeyQuirk::kNone;
    }
    if (!resp::key_indexes(single, args, one, error)) continue;
    const bool read_only = (spec.flags & resp::kKeyRO) != 0;
    for (const auto i : one) {
      if (i < seen.size()) seen[i] = std::max<std::uint8_t>(seen[i], read_only ? 1 : 2);
    }
  }
  out.clear();
  for (const auto i : all) out.push_back({i, i >= seen.size() || seen[i] != 1});
  return true;
}

// The writes that map to one row: one key, args[1].
bool single_key_mapped(CacheRole role) {
  switch (role) {
    case CacheRole::kSet:
    case CacheRole::kIncr:
    case CacheRole::kDecr:
    case CacheRole::kIncrBy:
    case CacheRole::kDecrBy:
    case CacheRole::kHset:
    case CacheRole::kHmset:
    case CacheRole::kHincrBy:
      return true;
    default:
      return false;
  }
}

// The first key of a write policy the command uses (`written_only`: that it may change).
struct PolicyKey {
  std::string_view key;
  const cache::Policy* policy = nullptr;
  std::size_t count = 0;  // keys of the command
};

PolicyKey first_policy_key(cache::ChainRequest& request, const std::vector<KeyUse>& uses,
                           bool written_only) {
  const auto args = request.args();
  PolicyKey out;
  out.count = uses.size();
  for (const auto& u : uses) {
    if (written_only && !u.written) continue;
    std::string_view id;
    if (u.index >= args.size()) continue;
    if (const cache::Policy* p = write_policy(request, u.index, id)) {
      out.key = args[u.index];
      out.policy = p;
      return out;
    }
  }
  return out;
}

// SET on a json policy: the value is a JSON object of the row's columns.
bool json_columns(std::string_view command, const cache::Policy& p, std::string_view id,
                  std::string_view text, JsonColumns& out, std::string& error) {
  std::string why;
  JsonColumns parsed;
  if (!parse_json_columns(text, parsed, why)) {
    error = errors::json_invalid(command, p.name(), why);
    return false;
  }
  out.clear();
  for (auto& [name, value] : parsed) {
    if (name == p.config.key_column) {
      // A value read from the cache holds the key column: accepted when it names this row.
      if (value && *value == id) continue;
      error = errors::json_key_member(name, p.name(), id);
      return false;
    }
    const auto& columns = p.config.columns;
    if (!columns.empty() && std::find(columns.begin(), columns.end(), name) == columns.end()) {
      error = errors::json_not_column(name, p.name());
      return false;
    }
    out.emplace_back(std::move(name), std::move(value));
  }
  if (out.empty()) {
    error = errors::json_no_column(command, p.name());
    return false;
  }
  return true;
}

Classified unmappable(std::string_view name, const cache::Policy& p, std::string_view hint) {
  return error(errors::unmappable(name, p.name(), mapping_name(p), hint));
}

// MSET: one SET per key, those of write policies through the writer. Every pair is checked
// before anything is written.
Classified classify_mset(cache::ChainRequest& request) {
  const auto args = request.args();
  Classified c;
  if (args.size() % 2 == 0) return c;  // the normal routing answers the arity error
  bool any = false;
  for (std::size_t i = 1; i + 1 < args.size() && !any; i += 2) {
    std::string_view id;
    any = write_policy(request, i, id) != nullptr;
  }
  if (!any) return c;  // plain keys only: routed as before, nothing copied
  for (std::size_t i = 1; i + 1 < args.size(); i += 2) {
    std::string_view id;
    const cache::Policy* p = write_policy(request, i, id);
    if (p == nullptr) {
      c.plain_sets.emplace_back(std::string(args[i]), std::string(args[i + 1]));
      continue;
    }
    if (p->is_hash()) {
      return error(errors::mset_hash_key(args[i], p->name()));
    }
    KeyWrite w;
    w.key = std::string(args[i]);
    w.id = std::string(id);
    w.policy = p;
    w.op = Op::kSet;
    w.value = std::string(args[i + 1]);
    if (is_json(*p) && !json_columns("mset", *p, id, args[i + 1], w.columns, c.error)) {
      c.error = errors::nothing_written(c.error);
      c.kind = Classified::Kind::kError;
      c.writes.clear();
      c.plain_sets.clear();
      return c;
    }
    c.writes.push_back(std::move(w));
  }
  if (c.writes.empty()) return Classified{};
  c.kind = Classified::Kind::kWrite;
  return c;
}

}  // namespace

Classified classify(cache::ChainRequest& request) {
  const resp::CommandInfo& info = request.info();
  const CacheRole role = request.role();
  const std::string_view name = info.name;  // for error texts
  const auto args = request.args();
  Classified c;
  if (request.policies().empty() || args.size() < 2 || role == CacheRole::kTtl) return c;
  if (role == CacheRole::kDel || role == CacheRole::kUnlink) {
    for (std::size_t i = 1; i < args.size(); ++i) {
      std::string_view id;
      const cache::Policy* p = write_policy(request, i, id);
      if (p == nullptr) {
        c.plain_keys.emplace_back(args[i]);
        continue;
      }
      KeyWrite w;
      w.key = std::string(args[i]);
      w.id = std::string(id);
      w.policy = p;
      w.op = Op::kDel;
      c.writes.push_back(std::move(w));
    }
    if (c.writes.empty()) return Classified{};
    c.kind = Classified::Kind::kWrite;
    c.unlink = role == CacheRole::kUnlink;
    return c;
  }
  const bool script = role == CacheRole::kScript;
  if (!info.has(resp::kFlagWrite) && !script) return c;  // a read: read-through or routing
  if (!single_key_mapped(role)) {
    if (role == CacheRole::kMset) return classify_mset(request);
    std::vector<KeyUse> uses;
    if (!key_uses(info, args, uses)) return c;
    const PolicyKey hit = first_policy_key(request, uses, !script);
    if (hit.policy == nullptr) return c;
    if (script) {
      const bool fn = info.quirk == resp::KeyQuirk::kFunctionNumkeys;  // FCALL
      return error(errors::script_write(name, hit.key, hit.policy->name(),
                                        mode_name(hit.policy->config.write), fn));
    }
    if (hit.count > 1) {
      return error(errors::multi_key_write(name, hit.key, hit.policy->name(),
                                           mode_name(hit.policy->config.write),
                                           hit.policy->is_hash()));
    }
    const bool hash = hit.policy->is_hash();
    return unmappable(name, *hit.policy,
                      hash                   ? errors::kOnlyHash
                      : is_json(*hit.policy) ? errors::kOnlyJson
                                             : errors::kOnlyColumn);
  }
  std::string_view id;
  const cache::Policy* p = write_policy(request, 1, id);
  if (p == nullptr) return c;
  KeyWrite w;
  w.key = std::string(args[1]);
  w.id = std::string(id);
  w.policy = p;
  const bool hash = p->is_hash();
  if (role == CacheRole::kSet) {
    if (hash) return unmappable(name, *p, errors::kUseHset);
    if (args.size() != 3) {
      return error(errors::set_options(p->name()));
    }
    w.op = Op::kSet;
    w.value = std::string(args[2]);
    if (is_json(*p) && !json_columns(name, *p, id, args[2], w.columns, c.error)) {
      c.kind = Classified::Kind::kError;
      return c;
    }
  } else if (role == CacheRole::kIncr || role == CacheRole::kDecr || role == CacheRole::kIncrBy ||
             role == CacheRole::kDecrBy) {
    if (hash) return unmappable(name, *p, errors::kUseHincrby);
    if (is_json(*p)) return unmappable(name, *p, errors::kUseSetJson);
    std::int64_t delta = 1;
    if (role == CacheRole::kIncrBy || role == CacheRole::kDecrBy) {
      if (args.size() != 3 || !parse_int(args[2], delta)) {
        return error(std::string(resp::errors::kNotInteger));
      }
    }
    if (role == CacheRole::kDecr || role == CacheRole::kDecrBy) {
      if (delta == INT64_MIN) return error(std::string(resp::errors::kDecrementOverflow));
      delta = -delta;
    }
    w.op = Op::kIncr;
    w.delta = delta;
  } else if (role == CacheRole::kHset || role == CacheRole::kHmset) {
    if (!hash) {
      return unmappable(name, *p, is_json(*p) ? errors::kUseSetJsonKey : errors::kUseSetColumn);
    }
    if (args.size() < 4 || args.size() % 2 != 0) {
      return error(resp::errors::wrong_arity(name));
    }
    for (std::size_t i = 2; i + 1 < args.size(); i += 2) {
      const std::string_view field = args[i];
      if (field == p->config.key_column) {
        return error(errors::field_key_column(field, p->name()));
      }
      if (!p->config.columns.empty() &&
          std::find(p->config.columns.begin(), p->config.columns.end(), field) ==
              p->config.columns.end()) {
        return error(errors::field_not_column(field, p->name()));
      }
      w.fields.emplace_back(std::string(field), std::string(args[i + 1]));
    }
    w.op = Op::kHset;
  } else if (role == CacheRole::kHincrBy) {
    if (!hash) return unmappable(name, *p, errors::kUseIncrby);
    if (args.size() != 4 || !parse_int(args[3], w.delta)) {
      return error(std::string(resp::errors::kNotInteger));
    }
    w.field = std::string(args[2]);
    if (w.field == p->config.key_column ||
        (!p->config.columns.empty() && std::find(p->config.columns.begin(), p->config.columns.end(),
                                                 w.field) == p->config.columns.end())) {
      return error(errors::field_not_writable(w.field, p->name()));
    }
    w.op = Op::kHincr;
  }
  c.kind = Classified::Kind::kWrite;
  c.writes.push_back(std::move(w));
  return c;
}

std::string refusal_in_transaction(cache::ChainRequest& request) {
  Classified c = classify(request);
  const std::string_view name = request.info().name;  // for error texts
  switch (c.kind) {
    case Classified::Kind::kPass:
      return {};
    case Classified::Kind::kError:
      return std::move(c.error);
    case Classified::Kind::kWrite:
      break;
  }
  const bool del = request.role() == CacheRole::kDel || request.role() == CacheRole::kUnlink;
  for (const auto& w : c.writes) {
    // DEL without delete_row_on_del only drops cached copies: a plain DEL, as outside MULTI
    // (but not of a `behind` key: one with writes still queued must keep its value).
    if (del && !w.policy->config.delete_row_on_del &&
        w.policy->config.write != WriteMode::kBehind) {
      continue;
    }
    return errors::in_transaction(name, w.key, w.policy->name(), mode_name(w.policy->config.write));
  }
  return {};
}

}  // namespace sidecache::write
