#include "server/pubsub.hpp"

#include "resp/errors.hpp"
#include "resp/writer.hpp"
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

// The message type of a Pub/Sub frame (first element of an array or push), or "".
std::string_view frame_type(std::string_view frame) {
  if (frame.empty() || (frame[0] != '*' && frame[0] != '>')) return {};
  const auto eol = frame.find("\r\n");
  if (eol == std::string_view::npos || eol + 2 >= frame.size() || frame[eol + 2] != '$') return {};
  const auto rest = frame.substr(eol + 2);
  const auto eol2 = rest.find("\r\n");
  if (eol2 == std::string_view::npos) return {};
  std::size_t length = 0;
  for (std::size_t i = 1; i < eol2; ++i) {
    if (rest[i] < '0' || rest[i] > '9') return {};
    length = length * 10 + static_cast<std::size_t>(rest[i] - '0');
  }
  if (eol2 + 2 + length > rest.size()) return {};
  return rest.substr(eol2 + 2, length);
}

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
                  const std::shared_ptr<Op>& op) {
  std::vector<std::string_view> words;
  words.reserve(args.size() + 1);
  words.push_back(verb);
  words.insert(words.end(), args.begin(), args.end());
  scratch_.clear();
  resp::append_command(scratch_, words);
  entry.link->send_unmatched(scratch_);
  entry.expected.emplace_back(op, static_cast<std::uint32_t>(args.size()));
  ++op->waiting;
}

void PubSub::subscribe(Kind kind, const resp::Command& command, const ReplyTarget& target) {
  const auto& args = command.args;
  auto& nodes = ctx_.nodes();
  const std::uint32_t node_count = nodes.node_count();
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
    if (!per_node[n].empty()) send(*entries[n], args[0], per_node[n], op);
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
  for (const auto& [node, list] : per_node) send(links_[node], command.args[0], list, op);
  if (op->waiting == 0) target.deliver(op->reply);
}

void PubSub::on_frame(const std::string& node, std::string_view frame) {
  if (frame[0] == '-') return confirmed(node, frame);
  const std::string_view type = frame_type(frame);
  if (type == "message" || type == "pmessage" || type == "smessage") {
    ctx_.stats.pubsub_messages.add();
    ctx_.host.push(frame);
    return;
  }
  for (const auto& names : kNames) {
    if (type == names.subscribe || type == names.unsubscribe) return confirmed(node, {});
  }
  // Anything else (a PONG) is not for the client.
}

// One confirmation frame (or an error answering a whole request) from `node`.
void PubSub::confirmed(const std::string& node, std::string_view error) {
  const auto found = links_.find(node);
  if (found == links_.end() || found->second.expected.empty()) return;
  NodeLink& entry = found->second;
  auto& [op, frames] = entry.expected.front();
  if (!error.empty()) {
    op->reply.assign(error);  // the node refused: the client sees its error
    frames = 1;
  }
  std::shared_ptr<Op> done;
  if (--frames == 0) {
    if (--op->waiting == 0) done = op;
    entry.expected.pop_front();
  }
  if (done) done->target.deliver(done->reply);
  close_idle_links();
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
    for (auto& [op, frames] : entry.expected) {
      if (op->waiting > 0) {
        op->waiting = 0;
        owed.push_back(op);
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
  for (const auto& op : owed) op->target.deliver(op->reply);
}

}  // namespace sidecache::server
