#include "server/pubsub.hpp"

#include "resp/errors.hpp"
#include "resp/writer.hpp"
#include "server/pubsub_frames.hpp"
#include "server/pubsub_query.hpp"

namespace sidecache::server {
namespace {

using dispatch::Dispatched;
using dispatch::Where;

struct Names {
  std::string_view subscribe;
  std::string_view unsubscribe;
};

constexpr Names kNames[] = {
    {"subscribe", "unsubscribe"}, {"psubscribe", "punsubscribe"}, {"ssubscribe", "sunsubscribe"}};

std::string node_key(char kind, std::string_view name) {
  std::string key(1, kind);
  key.append(name);
  return key;
}

}  // namespace

void PubSub::reply_error(const ReplyTarget& target, std::string_view text) {
  scratch_.clear();
  resp::append_error(scratch_, text);
  target.deliver(scratch_);
}

dispatch::Where PubSub::command(const resp::CommandInfo& info, const resp::Command& command,
                                std::string_view raw, const ReplyTarget& target) {
  using resp::SessionRole;
  auto& nodes = ctx_.nodes();
  switch (info.session_role) {
    case SessionRole::kPublish: {
      const std::uint32_t node = nodes.node_for_key(command.args[1]);
      nodes.send(node, resp_form(command, raw, scratch_), target);
      return Where::at(node);
    }
    case SessionRole::kPubsubNumpat:  // every pattern is on every node: one node knows them all
      nodes.send(0, resp_form(command, raw, scratch_), target);
      return Where::at(0);
    case SessionRole::kPubsubChannels:
      pubsub_query(PubSubMerge::kUnion, resp_form(command, raw, scratch_), nodes, target);
      return Where::nodes();
    case SessionRole::kPubsubNumsub:
      pubsub_query(PubSubMerge::kSumPairs, resp_form(command, raw, scratch_), nodes, target);
      return Where::nodes();
    case SessionRole::kSubscribe:
      subscribe(Kind::kChannel, command, target);
      return Where::nodes();
    case SessionRole::kPsubscribe:
      subscribe(Kind::kPattern, command, target);
      return Where::nodes();
    case SessionRole::kSsubscribe:
      subscribe(Kind::kShard, command, target);
      return Where::nodes();
    case SessionRole::kUnsubscribe:
      unsubscribe(Kind::kChannel, command, target);
      return Where::nodes();
    case SessionRole::kPunsubscribe:
      unsubscribe(Kind::kPattern, command, target);
      return Where::nodes();
    case SessionRole::kSunsubscribe:
      unsubscribe(Kind::kShard, command, target);
      return Where::nodes();
    default:
      break;
  }
  reply_error(target, resp::errors::unsupported(info.name, info.note));
  return Where::answered();
}

std::set<std::string>& PubSub::set_of(Kind kind) {
  return kind == Kind::kChannel ? channels_ : kind == Kind::kPattern ? patterns_ : shard_;
}

// Redis counts channels and patterns together; shard channels on their own.
std::size_t PubSub::count_for(Kind kind) const {
  return kind == Kind::kShard ? shard_.size() : channels_.size() + patterns_.size();
}

void PubSub::append_confirmation(std::string& out, std::string_view type, const std::string* name,
                                 std::size_t count) const {
  out.append(ctx_.client.protocol == 3 ? ">3\r\n" : "*3\r\n");
  resp::append_bulk(out, type);
  if (name != nullptr) {
    resp::append_bulk(out, *name);
  } else if (ctx_.client.protocol == 3) {
    out.append("_\r\n");
  } else {
    resp::append_null_bulk(out);
  }
  resp::append_integer(out, static_cast<std::int64_t>(count));
}

PubSub::NodeLink* PubSub::ensure_link(std::uint32_t index, std::string& error) {
  const std::string& name = ctx_.nodes().node_name(index);
  NodeLink& entry = links_[name];
  if (entry.link) return &entry;
  entry.link = open_link(ctx_, index, error);
  if (!entry.link) {
    links_.erase(name);
    return nullptr;
  }
  entry.link->set_handlers(
      [this, name](std::string_view frame) { on_frame(name, frame); },
      [this, name](const std::string& reason) {
        // Its subscriptions are gone: the client must subscribe again,
        // as after a Redis restart. Closing it makes clients do so.
        links_[name].link.reset();
        ctx_.host.close_client("Pub/Sub connection to node " + name + " lost: " + reason);
      });
  entry.link->start();
  return &entry;
}

void PubSub::send(NodeLink& entry, std::string_view verb, const std::vector<std::string_view>& args,
                  const std::shared_ptr<Op>& op, Kind kind, bool subscribing,
                  std::uint32_t redirects) {
  std::vector<std::string_view> words;
  words.reserve(args.size() + 1);
  words.push_back(verb);
  words.insert(words.end(), args.begin(), args.end());
  scratch_.clear();
  resp::append_command(scratch_, words);
  entry.link->send_unmatched(scratch_);
  Pending pending{op, static_cast<std::uint32_t>(args.size()), {}, redirects};
  if (kind == Kind::kShard && subscribing) pending.shard.assign(args.begin(), args.end());
  if (kind == Kind::kShard && !subscribing) entry.unsubscribing.insert(args.begin(), args.end());
  entry.expected.push_back(std::move(pending));
  ++op->waiting;
}

void PubSub::subscribe(Kind kind, const resp::Command& command, const ReplyTarget& target) {
  const auto& args = command.args;
  auto& nodes = ctx_.nodes();
  const std::uint32_t node_count = nodes.node_count();
  // A cluster node takes one slot's shard channels per SSUBSCRIBE: refused here as Redis does,
  // before anything is subscribed. (A ring's nodes are standalone: any channels, per node.)
  if (kind == Kind::kShard && !nodes.cross_group_error().empty()) {
    const std::uint32_t group = nodes.group_of_key(args[1]);
    for (std::size_t i = 2; i < args.size(); ++i) {
      if (nodes.group_of_key(args[i]) != group) {
        return reply_error(target, nodes.cross_group_error());
      }
    }
  }
  // Which node each argument goes to (patterns: every node); connections first, so that a
  // refused connection changes nothing.
  std::vector<std::vector<std::string_view>> per_node(node_count);
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (kind == Kind::kPattern) {
      for (auto& list : per_node) list.push_back(args[i]);
    } else {
      per_node[nodes.node_for_key(args[i])].push_back(args[i]);
    }
  }
  std::vector<NodeLink*> entries(node_count, nullptr);
  for (std::uint32_t n = 0; n < node_count; ++n) {
    if (per_node[n].empty()) continue;
    entries[n] = ensure_link(n, error_);
    if (entries[n] == nullptr) {
      close_idle_links();
      return reply_error(target, error_);
    }
  }
  auto op = std::make_shared<Op>();
  op->target = target;
  auto& set = set_of(kind);
  const char key_kind = kind == Kind::kShard ? 's' : 'c';
  for (std::size_t i = 1; i < args.size(); ++i) {
    const auto [it, added] = set.emplace(args[i]);
    if (added && kind == Kind::kPattern) {
      for (auto* entry : entries) ++entry->subscriptions;
    } else if (added) {
      const std::uint32_t node = nodes.node_for_key(args[i]);
      node_of_[node_key(key_kind, args[i])] = nodes.node_name(node);
      ++entries[node]->subscriptions;
    }
    append_confirmation(op->reply, kNames[static_cast<int>(kind)].subscribe, &*it, count_for(kind));
  }
  update_gauge();
  for (std::uint32_t n = 0; n < node_count; ++n) {
    if (!per_node[n].empty()) send(*entries[n], args[0], per_node[n], op, kind);
  }
  if (op->waiting == 0) target.deliver(op->reply);
}

void PubSub::unsubscribe(Kind kind, const resp::Command& command, const ReplyTarget& target) {
  auto& set = set_of(kind);
  std::vector<std::string> names;
  if (command.args.size() > 1) {
    names.assign(command.args.begin() + 1, command.args.end());
  } else {
    names.assign(set.begin(), set.end());  // no arguments: everything of this kind
  }
  auto op = std::make_shared<Op>();
  op->target = target;
  const std::string_view type = kNames[static_cast<int>(kind)].unsubscribe;
  if (names.empty()) append_confirmation(op->reply, type, nullptr, count_for(kind));
  std::map<std::string, std::vector<std::string_view>> per_node;
  const char key_kind = kind == Kind::kShard ? 's' : 'c';
  for (const auto& name : names) {
    if (set.erase(name) > 0) {
      if (kind == Kind::kPattern) {
        for (auto& [node, entry] : links_) {
          if (!entry.link) continue;
          --entry.subscriptions;
          per_node[node].push_back(name);
        }
      } else if (const auto it = node_of_.find(node_key(key_kind, name)); it != node_of_.end()) {
        const auto entry = links_.find(it->second);
        if (entry != links_.end() && entry->second.link) {
          --entry->second.subscriptions;
          per_node[it->second].push_back(name);
        }
        node_of_.erase(it);
      }
    }
    append_confirmation(op->reply, type, &name, count_for(kind));
  }
  update_gauge();
  for (const auto& [node, list] : per_node)
    send(links_[node], command.args[0], list, op, kind, false);
  if (op->waiting == 0) target.deliver(op->reply);
}

void PubSub::on_frame(const std::string& node, std::string_view frame) {
  if (frame[0] == '-') return confirmed(node, frame);
  const std::string_view type = pubsub_frame_type(frame);
  if (type == "pmessage" && !pattern_copy_wanted(node, frame)) return;
  if (type == "message" || type == "pmessage" || type == "smessage") {
    ctx_.stats.pubsub_messages.add();
    ctx_.host.push(frame);
    return;
  }
  if (type == "sunsubscribe") {
    const std::string_view name = pubsub_frame_bulk(frame, 1);
    const auto found = links_.find(node);
    if (found == links_.end()) return;
    auto& owed = found->second.unsubscribing;
    const auto it = owed.find(std::string(name));
    if (it == owed.end()) return shard_moved_away(node, name);  // not asked for: the slot moved
    owed.erase(it);
    return confirmed(node, {});
  }
  for (const auto& names : kNames) {
    if (type == names.subscribe || type == names.unsubscribe) return confirmed(node, {});
  }
  // Anything else (a PONG) is not for the client.
}

bool PubSub::pattern_copy_wanted(const std::string& node, std::string_view frame) {
  auto& nodes = ctx_.nodes();
  if (nodes.cross_group_error().empty()) return true;  // a ring: one node got the PUBLISH
  // Every primary of a cluster delivers every PUBLISH: the copy of the node the PUBLISH of
  // that channel goes to is the one kept.
  return nodes.node_name(nodes.node_for_key(pubsub_frame_bulk(frame, 2))) == node;
}

void PubSub::deliver(const Op& op) {
  if (op.target.sink) op.target.deliver(op.reply);  // none: sidecache's own resubscription
}

// One confirmation frame (or an error answering a whole request) from `node`.
void PubSub::confirmed(const std::string& node, std::string_view error) {
  const auto found = links_.find(node);
  if (found == links_.end() || found->second.expected.empty()) return;
  NodeLink& entry = found->second;
  if (!error.empty() && !entry.expected.front().shard.empty()) {
    if (follow_moved(node, entry, error)) return close_idle_links();
    // The node refused the shard channels: not subscribed (the client sees the error, or is
    // told it lost them when sidecache was subscribing them again).
    const Pending& pending = entry.expected.front();
    drop_shard(take_shard(node, entry, pending), !pending.op->target.sink);
  }
  auto& front = entry.expected.front();
  if (!error.empty()) {
    if (front.op->target.sink) front.op->reply.assign(error);  // the client sees its error
    front.frames = 1;
  }
  std::shared_ptr<Op> done;
  if (--front.frames == 0) {
    if (--front.op->waiting == 0) done = front.op;
    entry.expected.pop_front();
  }
  if (done) deliver(*done);
  close_idle_links();
}

std::vector<std::string> PubSub::take_shard(const std::string& node, NodeLink& entry,
                                            const Pending& pending) {
  std::vector<std::string> names;
  for (const auto& name : pending.shard) {
    const auto it = node_of_.find(node_key('s', name));
    if (it == node_of_.end() || it->second != node || shard_.count(name) == 0) continue;
    node_of_.erase(it);
    if (entry.subscriptions > 0) --entry.subscriptions;
    names.push_back(name);
  }
  return names;
}

bool PubSub::follow_moved(const std::string& node, NodeLink& entry, std::string_view error) {
  const auto& pool = ctx_.config->pool;
  route::Redirect redirect;
  const Pending& front = entry.expected.front();
  if (pool.type != config::PoolType::kCluster ||
      !route::follow_pinned_redirect(error, front.redirects, pool.cluster.max_redirects, false,
                                     redirect)) {
    return false;
  }
  auto& nodes = ctx_.nodes();
  const auto index = nodes.follow_redirect(false, redirect.slot, redirect.target);
  if (index >= nodes.node_count()) return false;
  Pending moved = std::move(entry.expected.front());
  entry.expected.pop_front();
  const auto names = take_shard(node, entry, moved);
  subscribe_shard_on(index, names, moved.op, moved.redirects + 1);
  if (--moved.op->waiting == 0) deliver(*moved.op);  // the refused request's share
  return true;
}

void PubSub::subscribe_shard_on(std::uint32_t index, const std::vector<std::string>& names,
                                const std::shared_ptr<Op>& op, std::uint32_t redirects) {
  if (names.empty()) return;
  auto& nodes = ctx_.nodes();
  NodeLink* entry = ensure_link(index, error_);
  if (entry == nullptr) {
    if (op->target.sink) {  // the client's SSUBSCRIBE: answered with the reason
      op->reply.clear();
      resp::append_error(op->reply, error_);
    }
    return drop_shard(names, !op->target.sink);
  }
  for (const auto& name : names) {
    node_of_[node_key('s', name)] = nodes.node_name(index);
    ++entry->subscriptions;
  }
  const std::vector<std::string_view> args(names.begin(), names.end());
  send(*entry, "SSUBSCRIBE", args, op, Kind::kShard, true, redirects);
}

void PubSub::shard_moved_away(const std::string& node, std::string_view name) {
  const auto it = node_of_.find(node_key('s', name));
  if (it == node_of_.end() || it->second != node || shard_.count(std::string(name)) == 0) return;
  node_of_.erase(it);
  const auto found = links_.find(node);
  if (found != links_.end() && found->second.subscriptions > 0) --found->second.subscriptions;
  ctx_.stats.shard_resubscribes.add();
  // Where the worker's map says now; a node that no longer owns the slot answers MOVED.
  auto& nodes = ctx_.nodes();
  const std::vector<std::string> names{std::string(name)};
  auto op = std::make_shared<Op>();  // no target: the confirmation is not the client's
  subscribe_shard_on(nodes.node_for_key(name), names, op, 0);
  close_idle_links();
}

void PubSub::drop_shard(const std::vector<std::string>& names, bool tell_client) {
  for (const auto& name : names) {
    shard_.erase(name);
    node_of_.erase(node_key('s', name));
    if (!tell_client) continue;
    // What Redis sends when it drops a shard subscription: the client subscribes again.
    scratch_.clear();
    append_confirmation(scratch_, "sunsubscribe", &name, shard_.size());
    ctx_.host.push(scratch_);
  }
  update_gauge();
}

void PubSub::close_idle_links() {
  for (auto it = links_.begin(); it != links_.end();) {
    NodeLink& entry = it->second;
    if (entry.subscriptions == 0 && entry.expected.empty()) {
      if (entry.link) entry.link->stop();
      it = links_.erase(it);
    } else {
      ++it;
    }
  }
}

void PubSub::update_gauge() {
  const bool subscribed = subscriptions() > 0;
  if (subscribed == counted_) return;
  counted_ = subscribed;
  ctx_.stats.subscribed_clients.add(subscribed ? 1 : -1);
}

void PubSub::reset() {
  std::vector<std::shared_ptr<Op>> owed;
  for (auto& [node, entry] : links_) {
    for (auto& pending : entry.expected) {
      if (pending.op->waiting > 0) {
        pending.op->waiting = 0;
        owed.push_back(pending.op);
      }
    }
    entry.expected.clear();
    if (entry.link) entry.link->stop();
  }
  links_.clear();
  channels_.clear();
  patterns_.clear();
  shard_.clear();
  node_of_.clear();
  update_gauge();
  for (const auto& op : owed) deliver(*op);
}

}  // namespace sidecache::server
