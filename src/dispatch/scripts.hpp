// Lua scripts across nodes. EVALSHA only works on a node that has the script; nodes restart,
// get flushed or are added, so sidecache remembers every script body it sees (SCRIPT LOAD and
// EVAL bodies, process-wide) and heals a NOSCRIPT reply: it sends SCRIPT LOAD <body> to that
// node and the EVALSHA again, once, then passes the reply through.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "sidecache/node_sender.hpp"
#include "sidecache/stats.hpp"

namespace sidecache::dispatch {

// SHA-1 of `data` as 40 lower-case hex digits (the name Redis gives a script).
std::string sha1_hex(std::string_view data);

// sha1 -> body, shared by every worker (thread-safe). Bounded by total body bytes: past the
// cap new bodies are not remembered (their NOSCRIPT replies then pass through).
class ScriptRegistry {
 public:
  static constexpr std::size_t kDefaultMaxBytes = 64 * 1024 * 1024;
  explicit ScriptRegistry(std::size_t max_bytes = kDefaultMaxBytes) : max_bytes_(max_bytes) {}

  // Remembers a body under its SHA-1. False when the registry is full.
  bool learn(std::string_view body);
  // The body of a script by SHA-1 (any case), if known.
  std::optional<std::string> body(std::string_view sha) const;
  // SCRIPT FLUSH through sidecache: forget everything, as the nodes do.
  void clear();
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::string> bodies_;
  std::size_t bytes_ = 0;
  std::size_t max_bytes_;
};

// What a NOSCRIPT healer needs from its worker's dispatcher. Lives as long as the dispatcher;
// `generation` changes when `nodes` is replaced (reload), so a reply from an old pool is not
// healed on the new one.
struct ScriptContext {
  NodeSender* nodes;
  std::uint64_t generation = 0;
  ScriptRegistry& registry;
  WorkerStats& stats;
};

// Sends EVALSHA/EVALSHA_RO `request` (sha at args[1]) to `node`, healing NOSCRIPT once.
void send_evalsha(ScriptContext& context, std::uint32_t node, std::string_view request,
                  std::string_view sha, bool read_only, const ReplyTarget& target);

}  // namespace sidecache::dispatch
