#include "server/transaction.hpp"

#include "dispatch/access.hpp"
#include "resp/errors.hpp"
#include "resp/writer.hpp"

namespace sidecache::server {
namespace {

using dispatch::Dispatched;
using dispatch::Where;
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
  using resp::SessionRole;
  switch (info.routing) {
    case resp::Routing::kSingleNode:
    case resp::Routing::kSplit:
      return Queueable::kKeyed;  // keyless single-node commands: see keys_node()
    case resp::Routing::kLocal:
      return info.session_role == SessionRole::kPing || info.session_role == SessionRole::kEcho
                 ? Queueable::kKeyless
                 : Queueable::kNo;
    case resp::Routing::kSession:
      if (info.has(resp::kFlagBlocking)) return Queueable::kKeyed;  // never blocks in MULTI
      if (info.session_role == SessionRole::kPublish) return Queueable::kKeyed;
      if (info.session_role == SessionRole::kUnwatch) return Queueable::kKeyless;
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

dispatch::Where Transaction::command(const resp::CommandInfo& info, const resp::Command& command,
                                     std::string_view raw, const ReplyTarget& target) {
  switch (info.session_role) {
    case resp::SessionRole::kMulti:
      multi_ = true;
      flagged_ = false;
      reply(target, kOk);
      return Where::answered();
    case resp::SessionRole::kExec:
      reply_error(target, errors::kExecWithoutMulti);
      return Where::answered();
    case resp::SessionRole::kDiscard:
      reply_error(target, errors::kDiscardWithoutMulti);
      return Where::answered();
    case resp::SessionRole::kWatch:
      return watch(info, command, raw, target);
    default:
      return unwatch(command, raw, target);  // UNWATCH
  }
}

dispatch::Where Transaction::unwatch(const resp::Command& command, std::string_view raw,
                                     const ReplyTarget& target) {
  if (!link_) {
    watch_lost_ = false;
    reply(target, kOk);
    return Where::answered();
  }
  const auto node = Where::at(node_);
  link_->send(resp_form(command, raw, scratch_), target);
  release(true);  // UNWATCH leaves nothing on the node
  return node;
}

dispatch::Where Transaction::watch(const resp::CommandInfo& info, const resp::Command& command,
                                   std::string_view raw, const ReplyTarget& target) {
  std::uint32_t node = 0;
  bool has_keys = false;
  if (!keys_node(ctx_, info, command.args, node, has_keys, error_)) {
    reply_error(target, error_);
    return Where::answered();
  }
  if (link_ && node != node_) {
    reply_error(target, errors::kCrossSlot);  // WATCHed keys must share one node
    return Where::answered();
  }
  if (!link_ && !pin(node, error_)) {
    reply_error(target, error_);
    return Where::answered();
  }
  const std::string_view request = resp_form(command, raw, scratch_);
  const ReplyTarget to = watching_ ? target : first_target(request, target);
  watching_ = true;
  link_->send(request, to);
  return Where::at(node_);
}

dispatch::Dispatched Transaction::queue(const dispatch::Resolved& resolved,
                                        const resp::Command& command, std::string_view raw,
                                        const ReplyTarget& target) {
  ctx_.stats.commands.add();
  const auto& args = command.args;
  Dispatched done;
  done.info = resolved.known;
  const resp::CommandInfo* info = resolved.info;
  std::string error = resolved.error;
  if (info == nullptr ||
      (ctx_.client.guarded && !dispatch::check_access(*info, args, ctx_.client, keys_, error))) {
    if (info != nullptr) ctx_.stats.access_denied.add();
    flag();
    reply_error(target, error);
    return done;
  }
  switch (info->session_role) {
    case resp::SessionRole::kExec:
      done.where = exec(target);
      return done;
    case resp::SessionRole::kDiscard:
      done.where = discard(target);
      return done;
    case resp::SessionRole::kMulti:
      reply_error(target, errors::kNestedMulti);
      return done;
    case resp::SessionRole::kWatch:
      reply_error(target, errors::kWatchInMulti);
      return done;
    default:
      break;
  }
  // Write modes need the database, which a Redis transaction cannot include.
  if (cache::PolicyChain* chain = ctx_.dispatcher.chain(); chain != nullptr) {
    std::string refusal = chain->refusal_in_transaction(*info, args);
    if (!refusal.empty()) {
      flag();
      reply_error(target, refusal);
      return done;
    }
  }
  const Queueable kind = queueable(*info);
  if (kind == Queueable::kNo) {
    flag();
    reply_error(target, errors::not_queueable(info->name));
    return done;
  }
  std::uint32_t node = 0;
  bool keyed = false;
  if (info->session_role == resp::SessionRole::kPublish) {
    keyed = true;
    node = ctx_.nodes().node_for_key(args[1]);  // the channel's node, as PUBLISH goes
  } else if (kind == Queueable::kKeyed && !keys_node(ctx_, *info, args, node, keyed, error_)) {
    flag();
    reply_error(target, error_);
    return done;
  }
  done.where = enqueue(keyed, node, command, raw, target);
  return done;
}

dispatch::Where Transaction::enqueue(bool keyed, std::uint32_t node, const resp::Command& command,
                                     std::string_view raw, const ReplyTarget& target) {
  if (keyed && link_ && node != node_) {
    flag();
    reply_error(target, std::string(errors::kCrossSlot) +
                            " (a transaction runs on the node of its first key)");
    return Where::answered();
  }
  if (!link_ && flagged_) {  // EXEC will abort: nothing needs to reach a node
    reply(target, kQueued);
    return Where::answered();
  }
  if (keyed && !link_ && !pin(node, error_)) {
    flag();
    reply_error(target, error_);
    return Where::answered();
  }
  const std::string_view request = resp_form(command, raw, scratch_);
  if (!link_) {
    buffered_.emplace_back(request);
    reply(target, kQueued);
    return Where::answered();
  }
  // The first command on the node (no WATCH before it): a MOVED may still move the transaction.
  const bool first = !multi_sent_ && !watching_;
  if (first) replay_ = buffered_;
  send_multi();
  link_->send(request, first ? first_target(request, target) : target);
  return Where::at(node_);
}

dispatch::Where Transaction::exec(const ReplyTarget& target) {
  multi_ = false;
  if (flagged_) {
    ctx_.stats.transactions_aborted.add();
    if (link_ && multi_sent_) link_->send_quiet(kDiscard);
    if (link_) release(multi_sent_);  // DISCARD unwatches too; a bare WATCH must be closed
    flagged_ = false;
    buffered_.clear();
    reply_error(target, errors::kExecAbort);
    return Where::answered();
  }
  if (watch_lost_) {  // the WATCH died with its connection: do not run unguarded
    if (link_) release(false);
    buffered_.clear();
    watch_lost_ = false;
    scratch_.clear();
    resp::append_null_array(scratch_);
    reply(target, scratch_);
    return Where::answered();
  }
  if (!link_ && buffered_.empty()) {  // MULTI EXEC: nothing to run anywhere
    ctx_.stats.transactions_exec.add();
    reply(target, "*0\r\n");
    return Where::answered();
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
      return Where::answered();
    }
  }
  send_multi();
  const auto node = Where::at(node_);
  ctx_.stats.transactions_exec.add();
  link_->send(kExec, target);
  release(true);  // EXEC unwatches everything
  return node;
}

dispatch::Where Transaction::discard(const ReplyTarget& target) {
  multi_ = false;
  flagged_ = false;
  buffered_.clear();
  ctx_.stats.transactions_discard.add();
  if (link_ && multi_sent_) {
    const auto node = Where::at(node_);
    link_->send(kDiscard, target);
    release(true);
    return node;
  }
  if (link_) release(false);  // only WATCH was sent: closing the connection drops it
  watch_lost_ = false;
  reply(target, kOk);
  return Where::answered();
}

ReplyTarget Transaction::first_target(std::string_view request, const ReplyTarget& target) {
  const auto& pool = ctx_.config->pool;
  if (pool.type != config::PoolType::kCluster) return target;
  first_.assign(request);
  if (follower_) follower_->cancel();
  follower_ = std::make_shared<PinnedRedirect>(
      target, pool.cluster.max_redirects, false,
      [this](const route::Redirect& redirect) { return follow(redirect); }, redirect_wait(ctx_),
      pool.cluster.retry_delay);
  hold_ = true;
  return follower_->target();
}

// The node refused the first command (MOVED): nothing of the transaction ran there. Leave that
// node as it was and start again on the one named.
PinnedRedirect::Followed Transaction::follow(const route::Redirect& redirect) {
  using Followed = PinnedRedirect::Followed;
  if (!link_ || !follower_) return Followed::kNo;  // the connection was lost meanwhile
  auto& nodes = ctx_.nodes();
  const auto node = nodes.follow_redirect(false, redirect.slot, redirect.target);
  if (node >= nodes.node_count()) return Followed::kLater;  // not a primary of the pool yet
  const bool in_multi = multi_sent_;
  if (in_multi) link_->send_quiet(kDiscard);  // the MULTI opened there
  auto follower = std::move(follower_);       // release() must not cancel it
  release(true);
  follower_ = follower;
  const ReplyTarget to = follower->target();
  if (!pin(node, error_)) {
    if (in_multi) flag();
    scratch_.clear();
    resp::append_error(scratch_, error_);
    follower->finish(scratch_);
    return Followed::kYes;
  }
  if (in_multi) {
    buffered_ = replay_;
    send_multi();
  } else {
    watching_ = true;
  }
  link_->send(first_, to);
  return Followed::kYes;
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
  if (follower_) {
    follower_->cancel();
    follower_.reset();
  }
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
  if (follower_) {
    follower_->cancel();
    follower_.reset();
  }
  hold_ = false;
  if (link_) {
    link_->stop();
    link_.reset();
  }
  multi_ = multi_sent_ = flagged_ = watching_ = watch_lost_ = false;
  buffered_.clear();
}

}  // namespace sidecache::server
