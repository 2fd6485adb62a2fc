#include "writeback/queue.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "write/json_row.hpp"

namespace sidecache::writeback {

using write::JsonColumns;
using write::parse_json_columns;

std::optional<Entry> parse_entry(std::string stream_id,
                                 std::span<const std::pair<std::string, std::string>> fields) {
  Entry e;
  e.stream_id = std::move(stream_id);
  std::string op;
  bool has_key = false;
  for (const auto& [name, value] : fields) {
    if (name == "k") {
      e.key = value;
      has_key = true;
    } else if (name == "p") {
      e.policy = value;
    } else if (name == "id") {
      e.id = value;
    } else if (name == "op") {
      op = value;
    } else if (name == "v") {
      e.value = value;
    } else if (name.starts_with("f:")) {
      e.fields.emplace_back(name.substr(2), value);
    }
  }
  if (!has_key || e.policy.empty()) return std::nullopt;
  if (op == "set") {
    e.op = Entry::Op::kSet;
  } else if (op == "hset") {
    e.op = Entry::Op::kHset;
  } else if (op == "del") {
    e.op = Entry::Op::kDel;
  } else {
    return std::nullopt;
  }
  return e;
}

namespace {

// A json policy's set: the object's members are the columns (validated when the write was
// taken; the key column is left out).
void json_values(const Entry& e, const std::string& key_column, db::Upsert& u) {
  JsonColumns columns;
  std::string error;
  if (!parse_json_columns(e.value, columns, error)) return;
  for (auto& [name, value] : columns) {
    if (name != key_column) u.values.emplace_back(std::move(name), std::move(value));
  }
}

db::Upsert upsert_of(const Entry& e, const std::string& value_column, const JsonSet* json) {
  db::Upsert u;
  u.key = e.id;
  if (e.op == Entry::Op::kSet && json != nullptr) {
    json_values(e, json->key_column, u);
  } else if (e.op == Entry::Op::kSet) {
    u.values.emplace_back(value_column, e.value);
  } else {
    for (const auto& [f, v] : e.fields) u.values.emplace_back(f, v);
  }
  return u;
}

void merge(db::Upsert& into, const db::Upsert& from) {
  for (const auto& [column, value] : from.values) {
    auto it = std::find_if(into.values.begin(), into.values.end(),
                           [&](const auto& cv) { return cv.first == column; });
    if (it == into.values.end()) {
      into.values.emplace_back(column, value);
    } else {
      it->second = value;
    }
  }
}

}  // namespace

WritePlan plan_writes(std::span<const Entry* const> entries, const std::string& value_column,
                      bool coalesce, const JsonSet* json) {
  WritePlan plan;
  if (!coalesce) {
    for (const Entry* e : entries) {
      const bool del = e->op == Entry::Op::kDel;
      // A new step when the kind of run changes: upserts of a step run before its deletes.
      if (plan.steps.empty() || (!del && !plan.steps.back().deletes.empty())) {
        plan.steps.emplace_back();
      }
      if (del) {
        plan.steps.back().deletes.push_back(e->id);
      } else {
        plan.steps.back().upserts.push_back(upsert_of(*e, value_column, json));
      }
    }
    return plan;
  }
  // Coalesced: one state per key, in order of each key's first entry.
  struct State {
    bool deleted = false;
    db::Upsert upsert;
  };
  std::vector<std::string> order;
  std::unordered_map<std::string, State> states;
  for (const Entry* e : entries) {
    auto [it, fresh] = states.try_emplace(e->id);
    if (fresh) {
      order.push_back(e->id);
    } else {
      ++plan.coalesced;
    }
    State& s = it->second;
    if (e->op == Entry::Op::kDel) {
      s.deleted = true;
      s.upsert = {};
    } else if ((e->op == Entry::Op::kSet && json == nullptr) || s.deleted || fresh) {
      // A set replaces the value (a json set names its columns: merged as hash fields are);
      // after a delete a hash starts again from these fields.
      s.deleted = false;
      s.upsert = upsert_of(*e, value_column, json);
    } else {
      merge(s.upsert, upsert_of(*e, value_column, json));
    }
  }
  WritePlan::Step step;
  for (const auto& id : order) {
    State& s = states[id];
    if (s.deleted) {
      step.deletes.push_back(id);
    } else {
      step.upserts.push_back(std::move(s.upsert));
    }
  }
  if (!step.upserts.empty() || !step.deletes.empty()) plan.steps.push_back(std::move(step));
  return plan;
}

std::chrono::milliseconds backoff(std::chrono::milliseconds min, std::chrono::milliseconds max,
                                  std::uint32_t attempt, double unit_random) {
  const double base = static_cast<double>(min.count()) * std::pow(2.0, std::min(attempt, 30u));
  const double capped = std::min(base, static_cast<double>(max.count()));
  const double jittered = capped * (0.5 + 0.5 * std::clamp(unit_random, 0.0, 1.0));
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(1.0, jittered)));
}

const std::string_view kDoneScript = R"lua(
local n = tonumber(ARGV[3])
local ids = {}
for i = 1, n do ids[i] = ARGV[3 + i] end
if n > 0 then
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
  -- Trim instead of XDEL (whole stream nodes go at once): every entry below the oldest one
  -- still pending, or up to the last one delivered when none is, has been acknowledged.
  local minid
  local p = redis.call('XPENDING', KEYS[1], ARGV[1])
  if p[1] > 0 then
    minid = p[2]
  else
    for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
      local info = {}
      for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
      if info['name'] == ARGV[1] then
        local ms, seq = string.match(info['last-delivered-id'], '(%d+)-(%d+)')
        minid = ms .. '-' .. tostring(tonumber(seq) + 1)
      end
    end
  end
  if minid then redis.call('XTRIM', KEYS[1], 'MINID', minid) end
end
local ttl = tonumber(ARGV[2])
-- Pending counts of all keys read and written back at once (HMGET, then one HDEL, one HSET).
if #KEYS > 2 then
  local keys = {}
  for i = 3, #KEYS do keys[#keys + 1] = KEYS[i] end
  local counts = redis.call('HMGET', KEYS[2], unpack(keys))
  local gone, still = {}, {}
  for i = 1, #keys do
    local left = (tonumber(counts[i]) or 0) - tonumber(ARGV[3 + n + i])
    if left <= 0 then
      gone[#gone + 1] = keys[i]
      if ttl > 0 then redis.call('PEXPIRE', keys[i], ARGV[2]) end
    else
      still[#still + 1] = keys[i]
      still[#still + 1] = tostring(left)
    end
  end
  if #gone > 0 then redis.call('HDEL', KEYS[2], unpack(gone)) end
  if #still > 0 then redis.call('HSET', KEYS[2], unpack(still)) end
end
return n
)lua";

const std::string_view kLeaseScript = R"lua(
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
)lua";

}  // namespace sidecache::writeback
