#include "write/commands.hpp"

#include <algorithm>
#include <charconv>
#include <climits>

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

std::string mapping_name(const cache::Policy& p) { return p.is_hash() ? "hash" : "column"; }

Classified unmappable(std::string_view name, const cache::Policy& p, std::string_view hint) {
  return error("ERR " + upper(name) + " cannot be written to the database on key of policy '" +
               p.name() + "' (mapping " + mapping_name(p) +
               ", write mode set): " + std::string(hint));
}

}  // namespace

Classified classify(const cache::PolicySet& policies, std::string_view name,
                    std::span<const std::string_view> args, bool writes_keys) {
  Classified c;
  if (policies.empty() || args.size() < 2) return c;
  if (name == "del" || name == "unlink") {
    for (std::size_t i = 1; i < args.size(); ++i) {
      std::string_view id;
      const cache::Policy* p = write_policy(policies, args[i], id);
      if (p == nullptr) {
        c.plain_keys.emplace_back(args[i]);
        continue;
      }
      KeyWrite w{std::string(args[i]), std::string(id), p, Op::kDel, {}, {}, {}, 0};
      c.writes.push_back(std::move(w));
    }
    if (c.writes.empty()) return Classified{};
    c.kind = Classified::Kind::kWrite;
    c.unlink = name == "unlink";
    return c;
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
  } else if (name == "incr" || name == "decr" || name == "incrby" || name == "decrby") {
    if (hash) return unmappable(name, *p, "use HINCRBY on a hash policy key");
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
    if (!hash) return unmappable(name, *p, "use SET on a column policy key");
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
  } else if (writes_keys) {
    return unmappable(name, *p,
                      hash ? "only HSET, HMSET, HINCRBY and DEL map to the row"
                           : "only SET, INCR, INCRBY, DECR, DECRBY and DEL map to the row");
  } else {
    return c;  // a read: the read-through engine or plain routing
  }
  c.kind = Classified::Kind::kWrite;
  c.writes.push_back(std::move(w));
  return c;
}

}  // namespace sidecache::write
