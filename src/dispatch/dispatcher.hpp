// Decides what happens to one parsed request: taken by the worker's policy chain (write modes,
// read-through), answered locally, rejected, forwarded to the node of its keys, split across
// nodes, broadcast, or left to the session's modes; the caller learns which (Dispatched).
// Asio-free: nodes are reached through NodeSender, so tests drive it with a fake.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cache/policy_chain.hpp"
#include "dispatch/process_state.hpp"
#include "dispatch/scripts.hpp"
#include "dispatch/split.hpp"
#include "hotkeys/tracker.hpp"
#include "resp/command_table.hpp"
#include "resp/parser.hpp"
#include "sidecache/node_sender.hpp"

namespace sidecache::dispatch {

// Where a request went, for statistics and the slow-request log.
enum class Outcome : std::uint8_t {
  kAnswered,  // answered by sidecache itself (a local command, an error), or not at all
  kNode,      // sent to one node (`Where::node`)
  kNodes,     // to several nodes: split, broadcast, across the keyspace, Pub/Sub on every node
  kCache,     // taken by the policy chain (read-through, write modes)
  kSession,   // left to the session's own modes (transactions, blocking commands, Pub/Sub):
              // nothing was replied
};

struct Where {
  Outcome outcome = Outcome::kAnswered;
  std::uint32_t node = 0;  // kNode
  static Where answered() { return {}; }
  static Where at(std::uint32_t node) { return {Outcome::kNode, node}; }
  static Where nodes() { return {Outcome::kNodes, 0}; }
  static Where cache() { return {Outcome::kCache, 0}; }
  static Where session() { return {Outcome::kSession, 0}; }
};

// What the dispatcher did with a request.
struct Dispatched {
  const resp::CommandInfo* info = nullptr;  // nullptr: unknown command
  Where where;
};

// A request's command, looked up once: the command to run (its routing, cache and session
// roles), or the error to answer.
struct Resolved {
  const resp::CommandInfo* info = nullptr;   // nullptr: answer `error`
  const resp::CommandInfo* known = nullptr;  // what was recognised (the container of an
                                             // unknown subcommand, say); nullptr when unknown
  std::string error;
};

// Looks up a request's command (and subcommand) and checks its arity. Returns the command to
// run, or nullptr with `error` set to the reply's text. `known` is what was recognised (the
// container of an unknown subcommand, say), for statistics; nullptr for an unknown command.
const resp::CommandInfo* resolve_command(std::span<const std::string_view> args,
                                         const resp::CommandInfo*& known, std::string& error);
inline void resolve(std::span<const std::string_view> args, Resolved& out) {
  out.info = resolve_command(args, out.known, out.error);
}

class Dispatcher {
 public:
  Dispatcher(NodeSender& nodes, const ProcessState& process, WorkerStats& stats);

  // Handles one request. `raw` is the request's bytes as the client sent them. The reply is
  // delivered to `target`, at once (local answers, errors) or when the nodes reply.
  Dispatched dispatch(const resp::Command& command, std::string_view raw, ClientState& client,
                      const ReplyTarget& target);
  // The same for a request whose command the caller resolved already.
  Dispatched dispatch(const Resolved& command_info, const resp::Command& command,
                      std::string_view raw, ClientState& client, const ReplyTarget& target);
  // The name of a node, for logs.
  const std::string& node_name(std::uint32_t node) const { return nodes_->node_name(node); }
  // Where a request went, for the slow-request log: a node's name, "several nodes", "cache"
  // (the policy chain answered it) or "sidecache".
  std::string where_name(const Where& where) const;
  // This worker's nodes (ring and shared connections), for the session's own modes.
  NodeSender& nodes() const { return *nodes_; }
  // After a reload: new requests go to the new nodes.
  void set_nodes(NodeSender& nodes) {
    nodes_ = &nodes;
    scripts_.nodes = &nodes;
    ++scripts_.generation;
    if (chain_ != nullptr) chain_->set_nodes(nodes);
  }
  // The worker's policy chain (write modes, then read-through), or nullptr: it takes requests
  // on policy keys before routing.
  void set_chain(cache::PolicyChain* chain) {
    chain_ = chain;
    if (chain_ == nullptr) return;
    chain_->set_nodes(*nodes_);
    chain_->set_router([this](const resp::CommandInfo& info, std::span<const std::string_view> args,
                              const ReplyTarget& target) { route_held(info, args, target); });
  }
  cache::PolicyChain* chain() const { return chain_; }
  // The worker's hot-key tracker, or nullptr (hotkeys.enabled: false): every key a client
  // command names is recorded in it.
  void set_hotkeys(hotkeys::Tracker* tracker) { hotkeys_ = tracker; }

 private:
  Where forward(const resp::CommandInfo& info, const resp::Command& command, std::string_view raw,
                const ReplyTarget& target);
  void split(const resp::CommandInfo& info, const resp::Command& command, std::string_view raw,
             const ReplyTarget& target);
  void broadcast(const resp::CommandInfo& info, const resp::Command& command, std::string_view raw,
                 const ReplyTarget& target);
  void keyspace(const resp::CommandInfo& info, const resp::Command& command, std::string_view raw,
                const ReplyTarget& target);
  Dispatched dispatch_as(const Resolved& resolved, const resp::Command& command,
                         std::string_view raw, ClientState& client, const ReplyTarget& target);
  void run_local_command(const resp::CommandInfo& info, const resp::Command& command,
                         ClientState& client, const ReplyTarget& target);
  void reply_error(const ReplyTarget& target, std::string_view text);
  // Routes a request the policy chain held and let go (a read that waited for the writes of
  // its keys before it): one node or split by key; others are not held.
  void route_held(const resp::CommandInfo& info, std::span<const std::string_view> args,
                  const ReplyTarget& target);
  void record_keys(const resp::CommandInfo& info, std::span<const std::string_view> args);
  // The request in RESP form: the client's bytes, or a re-encoding of an inline command.
  std::string_view resp_form(const resp::Command& command, std::string_view raw);

  NodeSender* nodes_;
  cache::PolicyChain* chain_ = nullptr;
  hotkeys::Tracker* hotkeys_ = nullptr;
  const ProcessState& process_;
  WorkerStats& stats_;
  std::vector<std::uint32_t> keys_;  // scratch, reused per request
  SplitScratch split_scratch_;
  std::string scratch_;
  std::string error_;
  Resolved resolved_;  // scratch, reused per request
  ScriptContext scripts_;
  // Commands the dispatcher treats specially, found once.
  const resp::CommandInfo* eval_ = nullptr;
  const resp::CommandInfo* eval_ro_ = nullptr;
  const resp::CommandInfo* evalsha_ = nullptr;
  const resp::CommandInfo* evalsha_ro_ = nullptr;
};

}  // namespace sidecache::dispatch
