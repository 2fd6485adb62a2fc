#include "write/behind_store.hpp"

#include <spdlog/spdlog.h>

#include "cache/generation.hpp"
#include "route/cluster_slots.hpp"
#include "sidecache/node_sender.hpp"

namespace sidecache::write {

using cache::command;

std::string guarded_store_request(std::string_view key, std::string_view pending, bool miss,
                                  const Value* value, std::int64_t ttl_ms, std::string_view stamp,
                                  cache::SideKeys layout) {
  static constexpr std::string_view kScript = R"lua(
local k = KEYS[1]
local queued = KEYS[3] ~= nil and redis.call('HEXISTS', KEYS[3], k) == 1
local ttl = redis.call('PTTL', k)
local raced = ARGV[3] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[3]
if queued or ttl == -1 or (ARGV[2] == 'miss' and ttl ~= -2) or (raced and ttl ~= -2) then
  local code = raced and 3 or 0
  local t = redis.call('TYPE', k)['ok']
  if t == 'hash' then return {code, redis.call('HGETALL', k)} end
  if t == 'string' then return {code, redis.call('GET', k)} end
  return {code}
end
if raced then return {2} end
if ARGV[4] == 'a' then
  redis.call('DEL', k)
elseif ARGV[4] == 'h' then
  redis.call('DEL', k)
  redis.call('HSET', k, unpack(ARGV, 5))
  redis.call('PEXPIRE', k, ARGV[1])
else
  redis.call('SET', k, ARGV[5], 'PX', ARGV[1])
end
return {1}
)lua";
  // On a cluster pool the write generation and the pending hash are in the key's slot (slot
  // tagged names), so the script's keys share a slot.
  std::vector<std::string> args{"EVAL", std::string(kScript), pending.empty() ? "2" : "3",
                                std::string(key), cache::generation_key(key, layout)};
  if (!pending.empty()) args.emplace_back(pending);
  args.push_back(std::to_string(ttl_ms));
  args.emplace_back(miss ? "miss" : "refresh");
  args.emplace_back(stamp);
  if (value == nullptr) {
    args.emplace_back("a");
  } else if (value->is_hash) {
    args.emplace_back("h");
    for (const auto& [f, v] : value->fields) args.insert(args.end(), {f, v});
  } else {
    args.emplace_back("s");
    args.push_back(value->text);
  }
  return command(std::span<const std::string>(args));
}

std::optional<GuardOutcome> guard_outcome(std::string_view reply, bool is_hash) {
  GuardOutcome out;
  if (reply.starts_with("*1\r\n:1\r\n")) {
    out.stored = true;
    return out;
  }
  // 0: kept (what the cache holds follows, if anything); 3: the same, and the key's write
  // generation changed during the load; 2: that, with nothing cached (the readers get the row).
  if (reply.starts_with("*1\r\n:2\r\n")) {
    out.superseded = out.loaded = true;
    return out;
  }
  out.superseded = reply.starts_with("*1\r\n:3\r\n") || reply.starts_with("*2\r\n:3\r\n");
  if (reply.starts_with("*1\r\n:0\r\n") || reply.starts_with("*1\r\n:3\r\n")) return out;
  if (!reply.starts_with("*2\r\n:0\r\n") && !reply.starts_with("*2\r\n:3\r\n")) {
    return std::nullopt;
  }
  const std::string_view rest = reply.substr(std::string_view("*2\r\n:0\r\n").size());
  Value v;
  if (is_hash) {
    v.is_hash = true;
    if (!cache::hash_fields(rest, v.fields)) return std::nullopt;
    if (!v.fields.empty()) out.kept = std::move(v);
  } else if (auto payload = cache::bulk_payload(rest)) {
    v.text = std::string(*payload);
    out.kept = std::move(v);
  }
  return out;
}

std::string_view BehindStore::pending_of(std::string_view key, std::uint32_t node) const {
  const std::uint32_t queue = by_slot_ ? route::key_slot(key) : node;
  return queue < pending_.size() ? std::string_view(pending_[queue]) : std::string_view();
}

std::string BehindStore::pending_hash(NodeSender& nodes, std::string_view key) const {
  return std::string(pending_of(key, nodes.node_for_key(key)));
}

bool BehindStore::takes(const cache::Policy& policy) const {
  return policy.config.write == config::WriteMode::kBehind;
}

void BehindStore::store(NodeSender& nodes, cache::StoreRequest request,
                        std::function<void(cache::StoreOutcome)> done) {
  const std::uint32_t node = nodes.node_for_key(request.key);
  const std::string_view pending = pending_of(request.key, node);
  const auto& loaded = request.loaded;
  const bool has_value = loaded->kind == cache::LoadResult::Kind::kValue;
  const std::string script = guarded_store_request(
      request.key, pending, request.miss, has_value ? &loaded->value : nullptr, request.ttl.count(),
      request.stamp, cache::side_keys_of(nodes));
  const bool is_hash = request.hash;
  auto on_reply = [key = request.key, loaded, is_hash,
                   done = std::move(done)](std::string_view reply) {
    const auto outcome = guard_outcome(reply, is_hash);
    if (!outcome) {
      spdlog::debug("cache: storing {} failed: {}", key, reply.substr(1));
      return done({loaded, false});
    }
    if (outcome->stored || outcome->loaded) {
      return done({loaded, outcome->stored, outcome->superseded});
    }
    auto kept = std::make_shared<cache::LoadResult>();
    kept->kind = outcome->kept ? cache::LoadResult::Kind::kValue : cache::LoadResult::Kind::kAbsent;
    if (outcome->kept) kept->value = *outcome->kept;
    done({std::move(kept), false, outcome->superseded});
  };
  nodes.send(node, script, ReplyTarget{std::make_shared<CallbackSink>(std::move(on_reply)), 0, 0});
}

}  // namespace sidecache::write
