// Decides what happens to one parsed request: answered locally, rejected, forwarded to the node
// of its keys, split across nodes, or broadcast. Asio-free: nodes are reached through
// NodeSender, so tests drive it with a fake.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cache/engine.hpp"
#include "dispatch/process_state.hpp"
#include "dispatch/scripts.hpp"
#include "dispatch/split.hpp"
#include "resp/command_table.hpp"
#include "resp/parser.hpp"
#include "sidecache/node_sender.hpp"
#include "write/writer.hpp"

namespace sidecache::dispatch {

// What the dispatcher did with a request, for statistics and the slow-request log.
struct Dispatched {
  static constexpr std::int32_t kNoNode = -1;     // answered locally or not at all
  static constexpr std::int32_t kManyNodes = -2;  // split or broadcast
  const resp::CommandInfo* info = nullptr;        // nullptr: unknown command
  std::int32_t node = kNoNode;
  // Not handled here: the session runs it on a connection of its own (transactions, blocking
  // commands, Pub/Sub; routing kSession, and XREAD/XREADGROUP with BLOCK). Nothing was replied.
  bool session = false;
};

// Looks up a request's command (and subcommand) and checks its arity. Returns the command to
// run, or nullptr with `error` set to the reply's text. `known` is what was recognised (the
// container of an unknown subcommand, say), for statistics; nullptr for an unknown command.
const resp::CommandInfo* resolve_command(std::span<const std::string_view> args,
                                         const resp::CommandInfo*& known, std::string& error);

class Dispatcher {
 public:
  Dispatcher(NodeSender& nodes, const ProcessState& process, WorkerStats& stats);

  // Handles one request. `raw` is the request's bytes as the client sent them. The reply is
  // delivered to `target`, at once (local answers, errors) or when the nodes reply.
  Dispatched dispatch(const resp::Command& command, std::string_view raw, ClientState& client,
                      const ReplyTarget& target);
  // The name of a node, for logs.
  const std::string& node_name(std::uint32_t node) const { return nodes_->node_name(node); }
  // This worker's nodes (ring and shared connections), for the session's own modes.
  NodeSender& nodes() const { return *nodes_; }
  // After a reload: new requests go to the new nodes.
  void set_nodes(NodeSender& nodes) {
    nodes_ = &nodes;
    scripts_.nodes = &nodes;
    ++scripts_.generation;
    if (cache_ != nullptr) cache_->set_nodes(nodes);
    if (writer_ != nullptr) writer_->set_nodes(nodes);
  }
  // The write modes (issue 6), or nullptr: they take writes on write-policy keys first.
  void set_writer(write::Writer* writer) {
    writer_ = writer;
    if (writer_ != nullptr) writer_->set_nodes(*nodes_);
  }
  write::Writer* writer() const { return writer_; }
  // The read-through engine (issue 5), or nullptr: it takes read commands on policy keys
  // before normal routing.
  void set_cache(cache::Engine* engine) {
    cache_ = engine;
    if (cache_ != nullptr) cache_->set_nodes(*nodes_);
  }

 private:
  std::int32_t forward(const resp::CommandInfo& info, const resp::Command& command,
                       std::string_view raw, const ReplyTarget& target);
  void split(const resp::CommandInfo& info, const resp::Command& command, std::string_view raw,
             const ReplyTarget& target);
  void broadcast(const resp::CommandInfo& info, const resp::Command& command, std::string_view raw,
                 const ReplyTarget& target);
  void keyspace(const resp::CommandInfo& info, const resp::Command& command, std::string_view raw,
                const ReplyTarget& target);
  Dispatched dispatch_as(const resp::Command& command, std::string_view raw, ClientState& client,
                         const ReplyTarget& target);
  void run_local_command(const resp::CommandInfo& info, const resp::Command& command,
                         ClientState& client, const ReplyTarget& target);
  void reply_error(const ReplyTarget& target, std::string_view text);
  // The request in RESP form: the client's bytes, or a re-encoding of an inline command.
  std::string_view resp_form(const resp::Command& command, std::string_view raw);

  NodeSender* nodes_;
  cache::Engine* cache_ = nullptr;
  write::Writer* writer_ = nullptr;
  const ProcessState& process_;
  WorkerStats& stats_;
  std::vector<std::uint32_t> keys_;  // scratch, reused per request
  SplitScratch split_scratch_;
  std::string scratch_;
  std::string error_;
  ScriptContext scripts_;
  // Commands the dispatcher treats specially, found once.
  const resp::CommandInfo* eval_ = nullptr;
  const resp::CommandInfo* eval_ro_ = nullptr;
  const resp::CommandInfo* evalsha_ = nullptr;
  const resp::CommandInfo* evalsha_ro_ = nullptr;
};

}  // namespace sidecache::dispatch
