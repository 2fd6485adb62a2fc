#include "write/commands.hpp"

#include <algorithm>
#include <charconv>
#include <climits>

#include "resp/command_table.hpp"

namespace sidecache::write {
namespace {

using config::ValueMapping;
using config::WriteMode;

const cache::Policy* write_policy(const cache::PolicySet& set, std::string_view key,
                                  std::string_view& id) {
  const auto m = set.match(key);
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

std::string upper(std::string_view name) {
  std::string out(name);
  for (char& ch : out) {
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
  }
  return out;
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

// The command table's entry of a lower-case name ("container|sub" for a subcommand).
const resp::CommandInfo* find_info(std::string_view name) {
  const auto& table = resp::CommandTable::instance();
  const auto bar = name.find('|');
  if (bar == std::string_view::npos) return table.find(name);
  const resp::CommandInfo* container = table.find(name.substr(0, bar));
  if (container == nullptr) return nullptr;
  return resp::CommandTable::find_subcommand(*container, name.substr(bar + 1));
}

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

bool is_script(std::string_view name) {
  return name == "eval" || name == "evalsha" || name == "fcall";
}

bool single_key_mapped(std::string_view name) {
  static constexpr std::string_view kNames[] = {"set",    "incr", "decr",  "incrby",
                                                "decrby", "hset", "hmset", "hincrby"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

// TTL commands change no row: they pass as before.
bool ttl_only(std::string_view name) {
  static constexpr std::string_view kNames[] = {"expire",    "pexpire", "expireat",
                                                "pexpireat", "persist", "touch"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

// The first key of a write policy the command uses (`written_only`: that it may change).
struct PolicyKey {
  std::string_view key;
  const cache::Policy* policy = nullptr;
  std::size_t count = 0;  // keys of the command
};

PolicyKey first_policy_key(const cache::PolicySet& set, std::span<const std::string_view> args,
                           const std::vector<KeyUse>& uses, bool written_only) {
  PolicyKey out;
  out.count = uses.size();
  for (const auto& u : uses) {
    if (written_only && !u.written) continue;
    std::string_view id;
    if (const cache::Policy* p = write_policy(set, args[u.index], id)) {
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
    error = "ERR " + upper(command) + " on key of json policy '" + p.name() + "': " + why;
    return false;
  }
  out.clear();
  for (auto& [name, value] : parsed) {
    if (name == p.config.key_column) {
      // A value read from the cache holds the key column: accepted when it names this row.
      if (value && *value == id) continue;
      error = "ERR JSON member '" + name + "' is the key column of policy '" + p.name() +
              "' and cannot be written (it may only repeat the key's id '" + std::string(id) + "')";
      return false;
    }
    const auto& columns = p.config.columns;
    if (!columns.empty() && std::find(columns.begin(), columns.end(), name) == columns.end()) {
      error = "ERR JSON member '" + name + "' is not a column of policy '" + p.name() + "'";
      return false;
    }
    out.emplace_back(std::move(name), std::move(value));
  }
  if (out.empty()) {
    error = "ERR " + upper(command) + " on key of json policy '" + p.name() +
            "': the JSON object holds no column to write";
    return false;
  }
  return true;
}

Classified unmappable(std::string_view name, const cache::Policy& p, std::string_view hint) {
  return error("ERR " + upper(name) + " cannot be written to the database on key of policy '" +
               p.name() + "' (mapping " + mapping_name(p) +
               ", write mode set): " + std::string(hint));
}

// MSET: one SET per key, those of write policies through the writer. Every pair is checked
// before anything is written.
Classified classify_mset(const cache::PolicySet& policies, std::span<const std::string_view> args) {
  Classified c;
  if (args.size() % 2 == 0) return c;  // the normal routing answers the arity error
  bool any = false;
  for (std::size_t i = 1; i + 1 < args.size() && !any; i += 2) {
    std::string_view id;
    any = write_policy(policies, args[i], id) != nullptr;
  }
  if (!any) return c;  // plain keys only: routed as before, nothing copied
  for (std::size_t i = 1; i + 1 < args.size(); i += 2) {
    std::string_view id;
    const cache::Policy* p = write_policy(policies, args[i], id);
    if (p == nullptr) {
      c.plain_sets.emplace_back(std::string(args[i]), std::string(args[i + 1]));
      continue;
    }
    if (p->is_hash()) {
      return error("ERR MSET cannot write key '" + std::string(args[i]) + "' of hash policy '" +
                   p->name() + "': use HSET on it; nothing was written");
    }
    KeyWrite w;
    w.key = std::string(args[i]);
    w.id = std::string(id);
    w.policy = p;
    w.op = Op::kSet;
    w.value = std::string(args[i + 1]);
    if (is_json(*p) && !json_columns("mset", *p, id, args[i + 1], w.columns, c.error)) {
      c.error += "; nothing was written";
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

Classified classify(const cache::PolicySet& policies, std::string_view name,
                    std::span<const std::string_view> args, bool writes_keys) {
  Classified c;
  if (policies.empty() || args.size() < 2 || ttl_only(name)) return c;
  if (name == "del" || name == "unlink") {
    for (std::size_t i = 1; i < args.size(); ++i) {
      std::string_view id;
      const cache::Policy* p = write_policy(policies, args[i], id);
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
    c.unlink = name == "unlink";
    return c;
  }
  const bool script = is_script(name);
  if (!writes_keys && !script) return c;  // a read: the read-through engine or plain routing
  if (!single_key_mapped(name)) {
    if (name == "mset") return classify_mset(policies, args);
    const resp::CommandInfo* info = find_info(name);
    std::vector<KeyUse> uses;
    if (info == nullptr || !key_uses(*info, args, uses)) return c;
    const PolicyKey hit = first_policy_key(policies, args, uses, !script);
    if (hit.policy == nullptr) return c;
    if (script) {
      const bool fn = name == "fcall";
      return error("ERR " + upper(name) + " on key '" + std::string(hit.key) +
                   "' of write policy '" + hit.policy->name() +
                   "' is not allowed: a script's writes would bypass the database (write mode " +
                   std::string(mode_name(hit.policy->config.write)) + "); read it with " +
                   (fn ? "FCALL_RO" : "EVAL_RO / EVALSHA_RO") +
                   ", write it with SET / HSET / DEL outside the script");
    }
    if (hit.count > 1) {
      return error("ERR " + upper(name) + " changes key '" + std::string(hit.key) +
                   "' of write policy '" + hit.policy->name() + "' (write mode " +
                   std::string(mode_name(hit.policy->config.write)) +
                   "): a multi-key write cannot be mapped to the database; write each key with " +
                   (hit.policy->is_hash() ? "HSET" : "SET") + " (or DEL it) on its own");
    }
    const bool hash = hit.policy->is_hash();
    return unmappable(name, *hit.policy,
                      hash ? "only HSET, HMSET, HINCRBY and DEL map to the row"
                      : is_json(*hit.policy)
                          ? "only SET of a JSON object and DEL map to the row"
                          : "only SET, INCR, INCRBY, DECR, DECRBY and DEL map to the row");
  }
  std::string_view id;
  const cache::Policy* p = write_policy(policies, args[1], id);
  if (p == nullptr) return c;
  KeyWrite w;
  w.key = std::string(args[1]);
  w.id = std::string(id);
  w.policy = p;
  const bool hash = p->is_hash();
  if (name == "set") {
    if (hash) return unmappable(name, *p, "use HSET on a hash policy key");
    if (args.size() != 3) {
      return error(
          "ERR SET options (EX, PX, NX, XX, GET, KEEPTTL) are not supported on keys of "
          "write policy '" +
          p->name() + "': the policy sets the TTL");
    }
    w.op = Op::kSet;
    w.value = std::string(args[2]);
    if (is_json(*p) && !json_columns(name, *p, id, args[2], w.columns, c.error)) {
      c.kind = Classified::Kind::kError;
      return c;
    }
  } else if (name == "incr" || name == "decr" || name == "incrby" || name == "decrby") {
    if (hash) return unmappable(name, *p, "use HINCRBY on a hash policy key");
    if (is_json(*p)) return unmappable(name, *p, "use SET with a JSON object of the columns");
    std::int64_t delta = 1;
    if (name == "incrby" || name == "decrby") {
      if (args.size() != 3 || !parse_int(args[2], delta)) {
        return error("ERR value is not an integer or out of range");
      }
    }
    if (name.starts_with("decr")) {
      if (delta == INT64_MIN) return error("ERR decrement would overflow");
      delta = -delta;
    }
    w.op = Op::kIncr;
    w.delta = delta;
  } else if (name == "hset" || name == "hmset") {
    if (!hash) {
      return unmappable(name, *p,
                        is_json(*p) ? "use SET with a JSON object of the columns on a json "
                                      "policy key"
                                    : "use SET on a column policy key");
    }
    if (args.size() < 4 || args.size() % 2 != 0) {
      return error("ERR wrong number of arguments for '" + std::string(name) + "' command");
    }
    for (std::size_t i = 2; i + 1 < args.size(); i += 2) {
      const std::string_view field = args[i];
      if (field == p->config.key_column) {
        return error("ERR field '" + std::string(field) + "' is the key column of policy '" +
                     p->name() + "' and cannot be written");
      }
      if (!p->config.columns.empty() &&
          std::find(p->config.columns.begin(), p->config.columns.end(), field) ==
              p->config.columns.end()) {
        return error("ERR field '" + std::string(field) + "' is not a column of policy '" +
                     p->name() + "'");
      }
      w.fields.emplace_back(std::string(field), std::string(args[i + 1]));
    }
    w.op = Op::kHset;
  } else if (name == "hincrby") {
    if (!hash) return unmappable(name, *p, "use INCRBY on a column policy key");
    if (args.size() != 4 || !parse_int(args[3], w.delta)) {
      return error("ERR value is not an integer or out of range");
    }
    w.field = std::string(args[2]);
    if (w.field == p->config.key_column ||
        (!p->config.columns.empty() && std::find(p->config.columns.begin(), p->config.columns.end(),
                                                 w.field) == p->config.columns.end())) {
      return error("ERR field '" + w.field + "' is not a writable column of policy '" + p->name() +
                   "'");
    }
    w.op = Op::kHincr;
  }
  c.kind = Classified::Kind::kWrite;
  c.writes.push_back(std::move(w));
  return c;
}

std::string refusal_in_transaction(const cache::PolicySet& policies, std::string_view name,
                                   std::span<const std::string_view> args, bool writes_keys) {
  Classified c = classify(policies, name, args, writes_keys);
  switch (c.kind) {
    case Classified::Kind::kPass:
      return {};
    case Classified::Kind::kError:
      return std::move(c.error);
    case Classified::Kind::kWrite:
      break;
  }
  const bool del = name == "del" || name == "unlink";
  for (const auto& w : c.writes) {
    // DEL without delete_row_on_del only drops cached copies: a plain DEL, as outside MULTI
    // (but not of a `behind` key: one with writes still queued must keep its value).
    if (del && !w.policy->config.delete_row_on_del &&
        w.policy->config.write != WriteMode::kBehind) {
      continue;
    }
    return "ERR " + upper(name) + " on key '" + w.key + "' of write policy '" + w.policy->name() +
           "' is not allowed inside MULTI: write modes need the database (write mode " +
           std::string(mode_name(w.policy->config.write)) +
           "), which a Redis transaction cannot include; send it outside MULTI";
  }
  return {};
}

}  // namespace sidecache::write
