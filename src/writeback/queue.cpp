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

StreamEntry parse_stream_entry(std::string stream_id,
                               std::span<const std::pair<std::string, std::string>> fields,
                               std::vector<Entry>& out) {
  StreamEntry se;
  std::size_t i = 0;
  if (!fields.empty() && fields[0].first == "n") {
    std::uint32_t n = 0;
    for (const char c : fields[0].second) {
      if (c < '0' || c > '9' || n > 100000000) break;
      n = n * 10 + static_cast<std::uint32_t>(c - '0');
    }
    se.counted = n;
    i = 1;
  }
  if (i == 1 && fields.size() > 1 && fields[1].first == "m") {
    // Plain SETs (write/queue_layout.hpp, kEnqueueSetsScript): "m" holds each write's policy
    // and id ("<length>:<bytes>" twice), then one (key, value) pair per write.
    std::string_view meta = fields[1].second;
    auto next = [&meta](std::string& into) {
      const auto colon = meta.find(':');
      if (colon == std::string_view::npos) return false;
      std::size_t len = 0;
      for (const char c : meta.substr(0, colon)) {
        if (c < '0' || c > '9' || len > meta.size()) return false;
        len = len * 10 + static_cast<std::size_t>(c - '0');
      }
      if (colon == 0 || len > meta.size() - colon - 1) return false;
      into.assign(meta.substr(colon + 1, len));
      meta.remove_prefix(colon + 1 + len);
      return true;
    };
    for (i = 2; i < fields.size(); ++i) {
      Entry e;
      e.stream_id = stream_id;
      if (!next(e.policy) || !next(e.id) || e.policy.empty()) break;
      e.key = fields[i].first;
      e.value = fields[i].second;
      e.op = Entry::Op::kSet;
      e.part = se.writes++;
      out.push_back(std::move(e));
    }
    se.id = std::move(stream_id);
    return se;
  }
  while (i < fields.size()) {
    std::size_t end = i + 1;
    while (end < fields.size() && fields[end].first != "k") ++end;
    if (auto e = parse_entry(stream_id, fields.subspan(i, end - i))) {
      e->part = se.writes++;
      out.push_back(std::move(*e));
    }
    i = end;
  }
  se.id = std::move(stream_id);
  return se;
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
local n = tonumber(ARGV[2])
-- unpack takes a few thousand values at most: long lists go in slices.
local function each_slice(list, f)
  for i = 1, #list, 1000 do f(unpack(list, i, math.min(i + 999, #list))) end
end
local ids, acked = {}, {}
for i = 1, n do
  ids[i] = ARGV[2 + i]
  acked[ids[i]] = true
end
if n > 0 then
  each_slice(ids, function(...) redis.call('XACK', KEYS[1], ARGV[1], ...) end)
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
local taken = tonumber(ARGV[3 + n])
if taken > 0 and redis.call('DECRBY', KEYS[3], taken) <= 0 then redis.call('DEL', KEYS[3]) end
-- Pending fields of all keys read and written back at once (HMGET, then HDEL, HSET).
if #KEYS > 3 then
  local keys = {}
  for i = 4, #KEYS do keys[#keys + 1] = KEYS[i] end
  local cur = {}
  each_slice(keys, function(...)
    for _, v in ipairs(redis.call('HMGET', KEYS[2], ...)) do cur[#cur + 1] = v end
  end)
  local gone, still = {}, {}
  for i = 1, #keys do
    local at = 2 + n + 2 * i  -- ARGV[at]: ttl, ARGV[at + 1]: writes
    local c = cur[i]
    local done
    if not c then
      done = true
    elseif acked[c] then
      done = true  -- its last queued write was in these entries
    elseif string.find(c, '-', 1, true) then
      done = false  -- a later entry holds a write of it
    else
      -- A count of the previous layout.
      local left = (tonumber(c) or 0) - tonumber(ARGV[at + 1])
      done = left <= 0
      if not done then
        still[#still + 1] = keys[i]
        still[#still + 1] = tostring(left)
      end
    end
    if done then
      gone[#gone + 1] = keys[i]
      if tonumber(ARGV[at]) > 0 then redis.call('PEXPIRE', keys[i], ARGV[at]) end
    end
  end
  each_slice(gone, function(...) redis.call('HDEL', KEYS[2], ...) end)
  each_slice(still, function(...) redis.call('HSET', KEYS[2], ...) end)
  -- The write generations of the keys whose last queued write is written go up where a load
  -- made one: a load that read the row before this commit must not store it
  -- (cache/generation.hpp). Only while such a load may be running (its generation read set
  -- "<pending>:loads"); then one MGET per slice, no Lua call per key.
  if #gone > 0 and redis.call('EXISTS', KEYS[2] .. ':loads') == 1 then
    local gens, made = {}, {}
    for j = 1, #gone do gens[j] = 'sidecache:gen:' .. gone[j] end
    each_slice(gens, function(...)
      for _, v in ipairs(redis.call('MGET', ...)) do made[#made + 1] = v end
    end)
    for j = 1, #gens do
      if made[j] then redis.call('INCR', gens[j]) end
    end
  end
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

const std::string_view kDropEmptyQueueScript = R"lua(
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('XLEN', KEYS[1]) > 0 then return 0 end
if redis.call('HLEN', KEYS[2]) > 0 then return 0 end
if tonumber(redis.call('GET', KEYS[3]) or '0') ~= 0 then return 0 end
redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])
return 1
)lua";

}  // namespace sidecache::writeback
