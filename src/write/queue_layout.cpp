#include "write/queue_layout.hpp"

#include <openssl/evp.h>

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
                   find("sidecache:wbdead:", n)});
  }
  return out;
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
local len = redis.call('XLEN', KEYS[1])
-- A command's error caught by pcall, as an error reply (Redis 7.0 gives its text as a string).
local function failed(v)
  if type(v) == 'table' then return v end
  return redis.error_reply(v)
end
local function write(key, neg, a, p, n)
if len >= tonumber(ARGV[a + 1]) then
  return redis.error_reply('SIDECACHE_FULL write-behind queue is full')
end
local op = ARGV[a + 5]
if ARGV[a + 2] == '1' and op ~= 'set' and op ~= 'del' and redis.call('EXISTS', key) == 0 then
  return redis.error_reply('SIDECACHE_MISS')
end
local entry = {'k', key, 'p', ARGV[a + 3], 'id', ARGV[a + 4]}
local reply
if op == 'set' then
  redis.call('SET', key, ARGV[p])
  reply = redis.status_reply('OK')
  entry[7], entry[8], entry[9], entry[10] = 'op', 'set', 'v', ARGV[p]
elseif op == 'incr' then
  local ok, v = pcall(redis.call, 'INCRBY', key, ARGV[p])
  if not ok then return failed(v) end
  redis.call('PERSIST', key)
  reply = v
  entry[7], entry[8], entry[9], entry[10] = 'op', 'set', 'v', tostring(v)
elseif op == 'hset' then
  local args = {}
  for i = p, p + n - 1 do args[#args + 1] = ARGV[i] end
  local ok, v = pcall(redis.call, 'HSET', key, unpack(args))
  if not ok then return failed(v) end
  redis.call('PERSIST', key)
  reply = v
  table.insert(entry, 'op') table.insert(entry, 'hset')
  for i = p, p + n - 1, 2 do
    table.insert(entry, 'f:' .. ARGV[i]) table.insert(entry, ARGV[i + 1])
  end
elseif op == 'hincr' then
  local ok, v = pcall(redis.call, 'HINCRBY', key, ARGV[p], ARGV[p + 1])
  if not ok then return failed(v) end
  redis.call('PERSIST', key)
  reply = v
  table.insert(entry, 'op') table.insert(entry, 'hset')
  table.insert(entry, 'f:' .. ARGV[p]) table.insert(entry, tostring(v))
else
  reply = redis.call('DEL', key)
  table.insert(entry, 'op') table.insert(entry, 'del')
end
redis.call('XADD', KEYS[1], '*', unpack(entry))
redis.call('HINCRBY', KEYS[2], key, '1')
if neg then redis.call('DEL', neg) end
len = len + 1
return reply
end
local out = {}
local k, a = 3, 1
while a <= #ARGV do
  local nk, n = tonumber(ARGV[a]), tonumber(ARGV[a + 6])
  local neg = nil
  if nk == 2 then neg = KEYS[k + 1] end
  out[#out + 1] = write(KEYS[k], neg, a, a + 7, n)
  k, a = k + nk, a + 7 + n
end
return out
)lua";

const std::string_view kDelUnlessQueuedScript = R"lua(
if redis.call('HEXISTS', KEYS[2], KEYS[1]) == 1 then return redis.call('EXISTS', KEYS[1]) end
return redis.call(ARGV[1], KEYS[1])
)lua";

}  // namespace sidecache::write
