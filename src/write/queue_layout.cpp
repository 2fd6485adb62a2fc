#include "write/queue_layout.hpp"

#include <openssl/evp.h>

#include "route/cluster_slots.hpp"
#include "route/slot_tags.hpp"

namespace sidecache::write {

std::vector<NodeQueue> queue_names(
    std::uint32_t nodes, const std::function<std::uint32_t(std::string_view)>& node_for_key) {
  // Each name is searched on its own: with hash tags off the whole name is hashed, so names
  // sharing a tag need not share a node.
  auto find = [&](std::string_view prefix, std::uint32_t node) {
    for (std::uint32_t i = 0;; ++i) {
      std::string name = std::string(prefix) + "{" + std::to_string(i) + "}";
      if (node_for_key(name) == node) return name;
      if (i > 1000000) return name;  // a node with no share of the ring: never used
    }
  };
  std::vector<NodeQueue> out;
  for (std::uint32_t n = 0; n < nodes; ++n) {
    out.push_back({find("sidecache:wb:", n), find("sidecache:wbp:", n), find("sidecache:wbl:", n),
                   find("sidecache:wbdead:", n), find("sidecache:wbn:", n)});
  }
  return out;
}

NodeQueue slot_queue(std::uint16_t slot) {
  auto name = [slot](std::string_view prefix) {
    std::string out(prefix);
    out += '{';
    out += route::slot_tag(slot);
    out += '}';
    return out;
  };
  return {name("sidecache:wb:"), name("sidecache:wbp:"), name("sidecache:wbl:"),
          name("sidecache:wbdead:"), name("sidecache:wbn:")};
}

std::vector<NodeQueue> slot_queues() {
  std::vector<NodeQueue> out;
  out.reserve(route::kClusterSlots);
  for (std::uint32_t s = 0; s < route::kClusterSlots; ++s) {
    out.push_back(slot_queue(static_cast<std::uint16_t>(s)));
  }
  return out;
}

int queue_stream_slot(std::string_view name) {
  constexpr std::string_view kPrefix = "sidecache:wb:{";
  if (!name.starts_with(kPrefix) || !name.ends_with('}')) return -1;
  const std::uint16_t slot = route::key_slot(name);
  return slot_queue(slot).stream == name ? slot : -1;
}

std::string script_sha1(std::string_view script) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(script.data(), script.size(), md, &len, EVP_sha1(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

const std::string_view kEnqueueScript = R"lua(
-- Before anything is written: a stream of another type fails the whole call here.
redis.call('XLEN', KEYS[1])
local queued = tonumber(redis.call('GET', KEYS[3]) or '0')
-- A command's error caught by pcall, as an error reply (Redis 7.0 gives its text as a string).
local function failed(v)
  if type(v) == 'table' then return v end
  return redis.error_reply(v)
end
local entry, keys, negs, sets = {'n', '0'}, {}, {}, {}
local added = 0
-- Consecutive sets go to Redis as one MSET (a later set of a key in the run wins, as in order).
local function flush_sets()
  if #sets > 0 then
    redis.call('MSET', unpack(sets))
    sets = {}
  end
end
local function push(...)
  for _, v in ipairs({...}) do entry[#entry + 1] = v end
end
local function write(key, neg, a, p, n)
if queued + added >= tonumber(ARGV[a + 1]) then
  return redis.error_reply('SIDECACHE_FULL write-behind queue is full')
end
local op = ARGV[a + 5]
local reply
if op == 'set' then
  sets[#sets + 1] = key
  sets[#sets + 1] = ARGV[p]
  reply = redis.status_reply('OK')
  push('k', key, 'p', ARGV[a + 3], 'id', ARGV[a + 4], 'op', 'set', 'v', ARGV[p])
else
  flush_sets()
  if ARGV[a + 2] == '1' and op ~= 'del' and redis.call('EXISTS', key) == 0 then
    return redis.error_reply('SIDECACHE_MISS')
  end
  local ok, v
  if op == 'incr' then
    ok, v = pcall(redis.call, 'INCRBY', key, ARGV[p])
    if not ok then return failed(v) end
    redis.call('PERSIST', key)
    push('k', key, 'p', ARGV[a + 3], 'id', ARGV[a + 4], 'op', 'set', 'v', tostring(v))
  elseif op == 'hset' then
    local args = {}
    for i = p, p + n - 1 do args[#args + 1] = ARGV[i] end
    ok, v = pcall(redis.call, 'HSET', key, unpack(args))
    if not ok then return failed(v) end
    redis.call('PERSIST', key)
    push('k', key, 'p', ARGV[a + 3], 'id', ARGV[a + 4], 'op', 'hset')
    for i = p, p + n - 1, 2 do push('f:' .. ARGV[i], ARGV[i + 1]) end
  elseif op == 'hincr' then
    ok, v = pcall(redis.call, 'HINCRBY', key, ARGV[p], ARGV[p + 1])
    if not ok then return failed(v) end
    redis.call('PERSIST', key)
    push('k', key, 'p', ARGV[a + 3], 'id', ARGV[a + 4], 'op', 'hset', 'f:' .. ARGV[p],
         tostring(v))
  else
    v = redis.call('DEL', key)
    push('k', key, 'p', ARGV[a + 3], 'id', ARGV[a + 4], 'op', 'del')
  end
  reply = v
end
keys[#keys + 1] = key
if neg then negs[#negs + 1] = neg end
added = added + 1
return reply
end
local out = {}
local k, a = 4, 1
while a <= #ARGV do
  local nk, n = tonumber(ARGV[a]), tonumber(ARGV[a + 6])
  local neg = nil
  if nk == 2 then neg = KEYS[k + 1] end
  out[#out + 1] = write(KEYS[k], neg, a, a + 7, n)
  k, a = k + nk, a + 7 + n
end
flush_sets()
if added > 0 then
  entry[2] = tostring(added)
  local id = redis.call('XADD', KEYS[1], '*', unpack(entry))
  local pending = {}
  for i = 1, #keys do
    pending[#pending + 1] = keys[i]
    pending[#pending + 1] = id
  end
  redis.call('HSET', KEYS[2], unpack(pending))
  redis.call('INCRBY', KEYS[3], added)
  if #negs > 0 then redis.call('DEL', unpack(negs)) end
end
return out
)lua";

const std::string_view kEnqueueSetsScript = R"lua(
local w = tonumber(ARGV[1])
local queued = tonumber(redis.call('GET', KEYS[3]) or '0')
if queued + w > tonumber(ARGV[2]) then
  return redis.error_reply('SIDECACHE_FULL write-behind queue is full')
end
-- The entry first: a stream of another type fails the call before anything is written.
local id = redis.call('XADD', KEYS[1], '*', 'n', ARGV[1], 'm', ARGV[3], unpack(ARGV, 4))
redis.call('MSET', unpack(ARGV, 4))
local pending = {}
for i = 1, w do
  pending[2 * i - 1] = KEYS[3 + i]
  pending[2 * i] = id
end
redis.call('HSET', KEYS[2], unpack(pending))
redis.call('INCRBY', KEYS[3], w)
if #KEYS > 3 + w then redis.call('DEL', unpack(KEYS, 4 + w)) end
return w
)lua";

void append_set_meta(std::string& meta, std::string_view policy, std::string_view id) {
  meta += std::to_string(policy.size());
  meta += ':';
  meta += policy;
  meta += std::to_string(id.size());
  meta += ':';
  meta += id;
}

const std::string_view kDelUnlessQueuedScript = R"lua(
if redis.call('HEXISTS', KEYS[2], KEYS[1]) == 1 then return redis.call('EXISTS', KEYS[1]) end
return redis.call(ARGV[1], KEYS[1])
)lua";

}  // namespace sidecache::write
