#include "server/transaction.hpp"

#include "dispatch/access.hpp"
#include "resp/errors.hpp"
#include "resp/writer.hpp"

namespace sidecache::server {
namespace {

using dispatch::Dispatched;
namespace errors = resp::errors;

constexpr std::string_view kOk = "+OK\r\n";
constexpr std::string_view kQueued = "+QUEUED\r\n";
constexpr std::string_view kMulti = "*1\r\n$5\r\nMULTI\r\n";
constexpr std::string_view kExec = "*1\r\n$4\r\nEXEC\r\n";
constexpr std::string_view kDiscard = "*1\r\n$7\r\nDISCARD\r\n";

// How a command may be queued: with keys (their node pins the transaction), without keys
// (any node), or not at all (answered by sidecache, or across nodes).
enum class Queueable { kKeyed, kKeyless, kNo };

Queueable queueable(const resp::CommandInfo& info) {
  const std::string_view name = info.name;
  switch (info.routing) {
    case resp::Routing::kSingleNode:
    case resp::Routing::kSplit:
      return Queueable::kKeyed;  // keyless single-node commands: see keys_node()
    case resp::Routing::kLocal:
      return name == "ping" || name == "echo" ? Queueable::kKeyless : Queueable::kNo;
    case resp::Routing::kSession:
      if (info.has(resp::kFlagBlocking)) return Queueable::kKeyed;  // never blocks in MULTI
      if (name == "publish" || name == "spublish") return Queueable::kKeyed;
      if (name == "unwatch") return Queueable::kKeyless;
      return Queueable::kNo;
    default:
      return Queueable::kNo;
  }
}

}  // namespace

void Transaction::reply_error(const ReplyTarget& target, std::string_view text) {
  scratch_.clear();
  resp::append_error(scratch_, text);
  target.deliver(scratch_);
}

std::int32_t Transaction::command(const resp::CommandInfo& info, const resp::Command& command,
                                  std::string_view raw, const ReplyTarget& target) {
  const std::string_view name = info.name;
  if (name == "multi") {
    multi_ = true;
    flagged_ = false;
    reply(target, kOk);
    return Dispatched::kNoNode;
  }
  if (name == "exec") {
    reply_error(target, errors::kExecWithoutMulti);
    return Dispatched::kNoNode;
  }
  if (name == "discard") {
    reply_error(target, errors::kDiscardWithoutMulti);
    return Dispatched::kNoNode;
  }
  if (name == "watch") return watch(info, command, raw, target);
  // UNWATCH
  if (!link_) {
    watch_lost_ = false;
    reply(target, kOk);
    return Dispatched::kNoNode;
  }
  const auto node = static_cast<std::int32_t>(node_);
  link_->send(resp_form(command, raw, scratch_), target);
  release(true);  // UNWATCH leaves nothing on the node
  return node;
}

std::int32_t Transaction::watch(const resp::CommandInfo& info, const resp::Command& command,
                                std::string_view raw, const ReplyTarget& target) {
  std::uint32_t node = 0;
  bool has_keys = false;
  if (!keys_node(ctx_, info, command.args, node, has_keys, error_)) {
    reply_error(target, error_);
    return Dispatched::kNoNode;
  }
  if (link_ && node != node_) {
    reply_error(target, errors::kCrossSlot);  // WATCHed keys must share one node
    return Dispatched::kNoNode;
  }
  if (!link_ && !pin(node, error_)) {
    reply_error(target, error_);
    return Dispatched::kNoNode;
  }
  watching_ = true;
  link_->send(resp_form(command, raw, scratch_), target);
  return static_cast<std::int32_t>(node_);
}

dispatch::Dispatched Transaction::queue(const resp::Command& command, std::string_view raw,
                                        const ReplyTarget& target) {
  ctx_.stats.commands.add();
  const auto& args = command.args;
  Dispatched done;
  std::string error;
  const resp::CommandInfo* info = dispatch::resolve_command(args, done.info, error);
  if (info == nullptr ||
      (ctx_.client.guarded && !dispatch::check_access(*info, args, ctx_.client, keys_, error))) {
    if (info != nullptr) ctx_.stats.access_denied.add();
    flag();
    reply_error(target, error);
    return done;
  }
  const std::string_view name = info->name;
  if (name == "exec") {
    done.node = exec(target);
    return done;
  }
  if (name == "discard") {
    done.node = discard(target);
    return done;
  }
  if (name == "multi") {
    reply_error(target, errors::kNestedMulti);
    return done;
  }
  if (name == "watch") {
    reply_error(target, errors::kWatchInMulti);
    return done;
  }
  // Write modes need the database, which a Redis transaction cannot include.
  if (write::Writer* writer = ctx_.dispatcher.writer(); writer != nullptr) {
    std::string refusal = writer->refusal_in_transaction(name, args, info->has(resp::kFlagWrite));
    if (!refusal.empty()) {
      flag();
      reply_error(target, refusal);
      return done;
    }
  }
  const Queueable kind = queueable(*info);
  if (kind == Queueable::kNo) {
    flag();
    reply_error(target, errors::not_queueable(name));
    return done;
  }
  std::uint32_t node = 0;
  bool keyed = false;
  if (name == "publish" || name == "spublish") {
    keyed = true;
    node = ctx_.nodes().node_for_key(args[1]);  // the channel's node, as PUBLISH goes
  } else if (kind == Queueable::kKeyed && !keys_node(ctx_, *info, args, node, keyed, error_)) {
    flag();
    reply_error(target, error_);
    return done;
  }
  done.node = enqueue(keyed, node, command, raw, target);
  return done;
}

std::int32_t Transaction::enqueue(bool keyed, std::uint32_t node, const resp::Command& command,
                                  std::string_view raw, const ReplyTarget& target) {
  if (keyed && link_ && node != node_) {
    flag();
    reply_error(target, std::string(errors::kCrossSlot) +
                            " (a transaction runs on the node of its first key)");
    return Dispatched::kNoNode;
  }
  if (!link_ && flagged_) {  // EXEC will abort: nothing needs to reach a node
    reply(target, kQueued);
    return Dispatched::kNoNode;
  }
  if (keyed && !link_ && !pin(node, error_)) {
    flag();
    reply_error(target, error_);
    return Dispatched::kNoNode;
  }
  const std::string_view request = resp_form(command, raw, scratch_);
  if (!link_) {
    buffered_.emplace_back(request);
    reply(target, kQueued);
    return Dispatched::kNoNode;
  }
  send_multi();
  link_->send(request, target);
  return static_cast<std::int32_t>(node_);
}

std::int32_t Transaction::exec(const ReplyTarget& target) {
  multi_ = false;
  if (flagged_) {
    ctx_.stats.transactions_aborted.add();
    if (link_ && multi_sent_) link_->send_quiet(kDiscard);
    if (link_) release(multi_sent_);  // DISCARD unwatches too; a bare WATCH must be closed
    flagged_ = false;
    buffered_.clear();
    reply_error(target, errors::kExecAbort);
    return Dispatched::kNoNode;
  }
  if (watch_lost_) {  // the WATCH died with its connection: do not run unguarded
    if (link_) release(false);
    buffered_.clear();
    watch_lost_ = false;
    scratch_.clear();
    resp::append_null_array(scratch_);
    reply(target, scratch_);
    return Dispatched::kNoNode;
  }
  if (!link_ && buffered_.empty()) {  // MULTI EXEC: nothing to run anywhere
    ctx_.stats.transactions_exec.add();
    reply(target, "*0\r\n");
    return Dispatched::kNoNode;
  }
  if (!link_) {
    // Nothing keyed: any node that is up runs it; clients spread over the nodes.
    auto& nodes = ctx_.nodes();
    const auto count = nodes.node_count();
    auto node = static_cast<std::uint32_t>(ctx_.client.id % count);
    for (std::uint32_t i = 0; i < count && !nodes.node_up(node); ++i) node = (node + 1) % count;
    if (!pin(node, error_)) {
      buffered_.clear();
      reply_error(target, error_);
      return Dispatched::kNoNode;
    }
  }
  send_multi();
  const auto node = static_cast<std::int32_t>(node_);
  ctx_.stats.transactions_exec.add();
  link_->send(kExec, target);
  release(true);  // EXEC unwatches everything
  return node;
}

std::int32_t Transaction::discard(const ReplyTarget& target) {
  multi_ = false;
  flagged_ = false;
  buffered_.clear();
  ctx_.stats.transactions_discard.add();
  if (link_ && multi_sent_) {
    const auto node = static_cast<std::int32_t>(node_);
    link_->send(kDiscard, target);
    release(true);
    return node;
  }
  if (link_) release(false);  // only WATCH was sent: closing the connection drops it
  watch_lost_ = false;
  reply(target, kOk);
  return Dispatched::kNoNode;
}

bool Transaction::pin(std::uint32_t node, std::string& error) {
  link_ = open_link(ctx_, node, error);
  if (!link_) return false;
  node_ = node;
  link_->set_handlers({}, [this](const std::string&) { on_link_lost(); });
  link_->start();
  return true;
}

void Transaction::send_multi() {
  if (multi_sent_) return;
  multi_sent_ = true;
  link_->send_quiet(kMulti);
  for (const auto& request : buffered_) link_->send_quiet(request);
  buffered_.clear();
}

// Once EXEC's (DISCARD's, UNWATCH's) reply is in, the connection goes back to the worker's idle
// cache (`reusable`: the node holds no WATCH or MULTI of this client) or closes.
void Transaction::release(bool reusable) {
  link_->set_handlers({}, {});
  link_->release(reusable ? keep_for_reuse() : backend::Link::OnIdle{});
  link_.reset();
  multi_sent_ = false;
  watching_ = false;
  watch_lost_ = false;
}

void Transaction::on_link_lost() {
  // Its requests were answered with errors. Inside MULTI the transaction cannot run any more.
  link_.reset();
  multi_sent_ = false;
  buffered_.clear();
  if (multi_) flagged_ = true;
  if (watching_) watch_lost_ = true;
  watching_ = false;
}

void Transaction::reset() {
  if (link_) {
    link_->stop();
    link_.reset();
  }
  multi_ = multi_sent_ = flagged_ = watching_ = watch_lost_ = false;
  buffered_.clear();
}

}  // namespace sidecache::server
