#include "cache/generation.hpp"

namespace sidecache::cache {

std::string generation_key(std::string_view key, SideKeys layout) {
  return side_key("sidecache:gen:", key, layout);
}

// The generation is read back with GET: a Lua number prints 16 digits in exponent form.
const std::string_view kGenerationScript = R"lua(
local g = redis.call('GET', KEYS[1])
if not g then
  local t = redis.call('TIME')
  g = t[1] .. string.format('%06d', tonumber(t[2]))
  redis.call('SET', KEYS[1], g, 'PX', ARGV[1])
else
  if ARGV[2] == 'bump' then
    redis.call('INCR', KEYS[1])
    g = redis.call('GET', KEYS[1])
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
if KEYS[2] then
  -- Tells the acknowledgements of this node that loads may be watching (see kDoneScript).
  redis.call('SET', KEYS[2] .. ':loads', '1', 'PX', ARGV[1])
  if redis.call('HEXISTS', KEYS[2], KEYS[3]) == 1 then return '0' end
end
return g
)lua";

const std::string_view kStoreIfGenerationScript = R"lua(
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local k, kind = KEYS[1], ARGV[2]
if kind == 's' then
  redis.call('SET', k, ARGV[4], 'PX', ARGV[3])
elseif kind == 'h' then
  redis.call('DEL', k)
  redis.call('HSET', k, unpack(ARGV, 4))
  redis.call('PEXPIRE', k, ARGV[3])
else
  redis.call('DEL', k)
  if KEYS[3] then redis.call('SET', KEYS[3], '1', 'PX', ARGV[3]) end
end
return 1
)lua";

const std::string_view kThroughFinishScript = R"lua(
local g = redis.call('GET', KEYS[2])
if g then redis.call('INCR', KEYS[2]) end
if g ~= ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 0
end
if ARGV[2] == 's' then
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[3])
elseif redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 4))
end
return 1
)lua";

const std::string_view kDeleteBumpScript = R"lua(
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('INCR', KEYS[2]) end
return redis.call(ARGV[1], KEYS[1])
)lua";

}  // namespace sidecache::cache
