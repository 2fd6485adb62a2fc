#include "dispatch/dispatcher.hpp"

#include <cstring>
#include <utility>

#include "dispatch/access.hpp"
#include "dispatch/cluster_commands.hpp"
#include "dispatch/errors.hpp"
#include "dispatch/keyspace.hpp"
#include "dispatch/local_commands.hpp"
#include "dispatch/split.hpp"
#include "resp/writer.hpp"
#include "sidecache/util/text.hpp"

namespace sidecache::dispatch {
namespace {

MergeKind merge_kind(std::string_view name) {
  static constexpr std::pair<std::string_view, MergeKind> kKinds[] = {
      {"mget", MergeKind::kMget},          {"mset", MergeKind::kAllOk},
      {"del", MergeKind::kSumIntegers},    {"unlink", MergeKind::kSumIntegers},
      {"exists", MergeKind::kSumIntegers}, {"touch", MergeKind::kSumIntegers},
      {"dbsize", MergeKind::kSumIntegers}, {"script|load", MergeKind::kAllEqual},
      {"script|flush", MergeKind::kAllOk}, {"script|exists", MergeKind::kAndArrays},
      {"keys", MergeKind::kConcatArrays},  {"randomkey", MergeKind::kAnyNonNull},
      {"flushdb", MergeKind::kAllOk},      {"flushall", MergeKind::kAllOk},
  };
  for (const auto& [n, kind] : kKinds) {
    if (n == name) return kind;
  }
  return MergeKind::kAllEqual;  // a broadcast without a rule: nodes must agree
}

// XREAD/XREADGROUP block only with BLOCK: the session runs them on a connection of its own.
bool blocks(const resp::CommandInfo& info, std::span<const std::string_view> args) {
  if (!info.has(resp::kFlagBlocking)) return false;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (iequals(args[i], "BLOCK")) return true;
    if (iequals(args[i], "STREAMS")) break;
  }
  return false;
}

// The table entry of a command name, remembering the last name looked up on this thread (its
// exact bytes): a pipeline is mostly one command, and the table is immutable.
const resp::CommandInfo* lookup_command(std::string_view name) {
  struct Last {
    char name[16];
    std::size_t size = 0;  // 0: nothing remembered
    const resp::CommandInfo* info = nullptr;
  };
  thread_local Last last;
  if (name.size() == last.size && std::memcmp(name.data(), last.name, name.size()) == 0) {
    return last.info;
  }
  const resp::CommandInfo* info = resp::CommandTable::instance().find(name);
  if (info != nullptr && !name.empty() && name.size() <= sizeof last.name) {
    std::memcpy(last.name, name.data(), name.size());
    last.size = name.size();
    last.info = info;
  }
  return info;
}

}  // namespace

const resp::CommandInfo* resolve_command(std::span<const std::string_view> args,
                                         const resp::CommandInfo*& known, std::string& error) {
  known = lookup_command(args[0]);
  if (known == nullptr) {
    error = errors::unknown_command(args);
    return nullptr;
  }
  if (!known->subcommands.empty() && args.size() >= 2) {
    const resp::CommandInfo* sub = resp::CommandTable::find_subcommand(*known, args[1]);
    if (sub == nullptr) {
      error = errors::unknown_subcommand(known->name, args[1]);
      return nullptr;
    }
    known = sub;
  }
  if (!known->arity_ok(args.size())) {
    error = errors::wrong_arity(known->name);
    return nullptr;
  }
  return known;
}

Dispatcher::Dispatcher(NodeSender& nodes, const ProcessState& process, WorkerStats& stats)
    : nodes_(&nodes),
      process_(process),
      stats_(stats),
      scripts_{&nodes, 0, process.scripts, stats} {
  const auto& table = resp::CommandTable::instance();
  eval_ = table.find("eval");
  eval_ro_ = table.find("eval_ro");
  evalsha_ = table.find("evalsha");
  evalsha_ro_ = table.find("evalsha_ro");
}

Dispatched Dispatcher::dispatch(const resp::Command& command, std::string_view raw,
                                ClientState& client, const ReplyTarget& target) {
  resolve(command.args, resolved_);
  return dispatch(resolved_, command, raw, client, target);
}

Dispatched Dispatcher::dispatch(const Resolved& resolved, const resp::Command& command,
                                std::string_view raw, ClientState& client,
                                const ReplyTarget& target) {
  // Requests go to node connections of the client's RESP version (backend::Pool).
  if (target.protocol == client.protocol) {
    return dispatch_as(resolved, command, raw, client, target);
  }
  ReplyTarget as_client = target;
  as_client.protocol = static_cast<std::uint8_t>(client.protocol);
  return dispatch_as(resolved, command, raw, client, as_client);
}

Dispatched Dispatcher::dispatch_as(const Resolved& resolved, const resp::Command& command,
                                   std::string_view raw, ClientState& client,
                                   const ReplyTarget& target) {
  stats_.commands.add();
  const auto& args = command.args;
  Dispatched done;
  done.info = resolved.known;
  const resp::CommandInfo* info = resolved.info;
  if (info == nullptr) {
    reply_error(target, resolved.error);
    return done;
  }
  if (client.guarded && !check_access(*info, args, client, keys_, error_)) {
    stats_.access_denied.add();
    reply_error(target, error_);
    return done;
  }
  if (hotkeys_ != nullptr && (info->first_key > 0 || info->has(resp::kFlagMovableKeys))) {
    record_keys(*info, args);
  }
  if (chain_ != nullptr && chain_->handle(*info, args, target)) {
    done.where = Where::cache();  // the write modes or the read-through engine answer it
    return done;
  }

  if (info->routing == resp::Routing::kSession || blocks(*info, args)) {
    done.where = Where::session();  // the session's transaction, blocking or Pub/Sub mode
    return done;
  }
  switch (info->routing) {
    case resp::Routing::kSingleNode:
      done.where = forward(*info, command, raw, target);
      break;
    case resp::Routing::kSplit:
      done.where = Where::nodes();
      split(*info, command, raw, target);
      break;
    case resp::Routing::kBroadcast:
      done.where = Where::nodes();
      broadcast(*info, command, raw, target);
      break;
    case resp::Routing::kLocal:
      run_local_command(*info, command, client, target);
      break;
    case resp::Routing::kRejected:
      // A cluster pool answers the CLUSTER subcommands a single-node client sends itself.
      if (info->name.starts_with("cluster|")) {
        const auto config = process_.current_config();  // the slot map's latest epoch
        scratch_.clear();
        if (config &&
            answer_cluster_command(info->name, args, *config, client.protocol, scratch_)) {
          target.deliver(scratch_);
          break;
        }
      }
      reply_error(target, errors::rejected(info->name, info->note));
      break;
    case resp::Routing::kKeyspace:
      done.where = Where::nodes();
      keyspace(*info, command, raw, target);
      break;
    case resp::Routing::kSession:  // handled above
    case resp::Routing::kUnsupported:
      reply_error(target, errors::unsupported(info->name, info->note));
      break;
  }
  return done;
}

std::string Dispatcher::where_name(const Where& where) const {
  switch (where.outcome) {
    case Outcome::kNode:
      return node_name(where.node);
    case Outcome::kNodes:
      return "several nodes";
    case Outcome::kCache:
      return "cache";
    case Outcome::kAnswered:
    case Outcome::kSession:
      break;
  }
  return "sidecache";
}

void Dispatcher::run_local_command(const resp::CommandInfo& info, const resp::Command& command,
                                   ClientState& client, const ReplyTarget& target) {
  scratch_.clear();
  if (!run_local(LocalRequest{info, command.args, client, process_, *nodes_}, scratch_)) {
    return reply_error(target, errors::unsupported(info.name, ""));
  }
  if (client.protocol == 3) {  // HELLO 3 / RESET change it
    client.resp3.hold(stats_.resp3_clients);
  } else {
    client.resp3.release();
  }
  // The reply to HELLO 3 is already RESP3; the target's protocol only matters for node sends.
  target.deliver(scratch_);
}

Where Dispatcher::forward(const resp::CommandInfo& info, const resp::Command& command,
                          std::string_view raw, const ReplyTarget& target) {
  const auto& args = command.args;
  if (!resp::key_indexes(info, args, keys_, error_)) {
    reply_error(target, error_);
    return Where::answered();
  }
  std::uint32_t node = 0;
  if (keys_.empty()) {
    // No keys (EVAL with numkeys 0, ...): a deterministic node, spread by the first argument.
    node = nodes_->node_for_key(args.size() > 1 ? args[1] : args[0]);
  } else {
    // One request: its keys must share a group (a ring's node, a cluster's slot).
    const std::uint32_t group = nodes_->group_of_key(args[keys_[0]]);
    for (std::size_t i = 1; i < keys_.size(); ++i) {
      if (nodes_->group_of_key(args[keys_[i]]) != group) {
        const auto text = nodes_->cross_group_error();
        reply_error(target, text.empty() ? errors::kCrossSlot : text);
        return Where::answered();
      }
    }
    node = nodes_->node_of_group(group);
  }
  if (&info == evalsha_ || &info == evalsha_ro_) {
    send_evalsha(scripts_, node, resp_form(command, raw), args[1], info.has(resp::kFlagReadOnly),
                 target);
    return Where::at(node);
  }
  if ((&info == eval_ || &info == eval_ro_) && !process_.scripts.learn(args[1])) {
    stats_.script_registry_full.add();
  }
  if (info.has(resp::kFlagReadOnly)) {
    nodes_->send_read(node, resp_form(command, raw), target);
  } else {
    nodes_->send(node, resp_form(command, raw), target);
  }
  return Where::at(node);
}

void Dispatcher::split(const resp::CommandInfo& info, const resp::Command& command,
                       std::string_view raw, const ReplyTarget& target) {
  const auto& args = command.args;
  if (!resp::key_indexes(info, args, keys_, error_)) return reply_error(target, error_);
  const int step = info.step > 0 ? info.step : 1;
  if (step > 1 && (args.size() - 1) % static_cast<std::size_t>(step) != 0) {
    return reply_error(target, errors::wrong_arity(info.name));
  }
  split_by_node(merge_kind(info.name), args, keys_, step, resp_form(command, raw), *nodes_, target,
                split_scratch_, info.has(resp::kFlagReadOnly));
}

void Dispatcher::broadcast(const resp::CommandInfo& info, const resp::Command& command,
                           std::string_view raw, const ReplyTarget& target) {
  if (info.name == "script|load" && !process_.scripts.learn(command.args[2])) {
    stats_.script_registry_full.add();
  } else if (info.name == "script|flush") {
    process_.scripts.clear();  // as the nodes forget them, so does sidecache
  }
  dispatch::broadcast(merge_kind(info.name), resp_form(command, raw), *nodes_, target);
}

void Dispatcher::keyspace(const resp::CommandInfo& info, const resp::Command& command,
                          std::string_view raw, const ReplyTarget& target) {
  if (info.name == "scan") return scan(command.args, *nodes_, target, scratch_);
  if (info.name == "keys" || info.name == "flushdb" || info.name == "flushall") {
    const auto config = process_.current_config();
    const bool allowed = info.name == "keys" ? config && config->commands.allow_keys
                                             : config && config->commands.allow_flush;
    if (!allowed) return reply_error(target, errors::rejected(info.name, info.note));
  }
  dispatch::broadcast(merge_kind(info.name), resp_form(command, raw), *nodes_, target);
}

// The legacy key range (first, last, step) covers every command whose keys do not move; the
// others (EVAL, ZUNION, XREAD, ...) walk their key specs.
void Dispatcher::record_keys(const resp::CommandInfo& info,
                             std::span<const std::string_view> args) {
  if (info.has(resp::kFlagMovableKeys)) {
    if (!resp::key_indexes(info, args, keys_, error_)) return;  // answered by the routing below
    for (const auto k : keys_) hotkeys_->record(args[k]);
    return;
  }
  const auto count = static_cast<std::ptrdiff_t>(args.size());
  std::ptrdiff_t last = info.last_key < 0 ? count + info.last_key : info.last_key;
  if (last >= count) last = count - 1;
  const std::ptrdiff_t step = info.step > 0 ? info.step : 1;
  for (std::ptrdiff_t i = info.first_key; i <= last; i += step) {
    hotkeys_->record(args[static_cast<std::size_t>(i)]);
  }
}

void Dispatcher::reply_error(const ReplyTarget& target, std::string_view text) {
  scratch_.clear();
  resp::append_error(scratch_, text);
  target.deliver(scratch_);
}

void Dispatcher::route_held(const resp::CommandInfo& info, std::span<const std::string_view> args,
                            const ReplyTarget& target) {
  resp::Command command;
  command.args.assign(args.begin(), args.end());
  command.inline_form = true;  // no client bytes: resp_form() encodes the arguments
  switch (info.routing) {
    case resp::Routing::kSingleNode:
      forward(info, command, {}, target);
      break;
    case resp::Routing::kSplit:
      split(info, command, {}, target);
      break;
    default:
      reply_error(target, errors::unsupported(info.name, ""));
      break;
  }
}

std::string_view Dispatcher::resp_form(const resp::Command& command, std::string_view raw) {
  if (!command.inline_form) return raw;
  scratch_.clear();
  resp::append_command(scratch_, command.args);
  return scratch_;
}

}  // namespace sidecache::dispatch
