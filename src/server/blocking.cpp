#include "server/blocking.hpp"

#include "resp/errors.hpp"
#include "resp/writer.hpp"

namespace sidecache::server {

namespace {
constexpr std::string_view kAsking = "*1\r\n$6\r\nASKING\r\n";
}  // namespace

dispatch::Where Blocking::run(const resp::CommandInfo& info, const resp::Command& command,
                              std::string_view raw, const ReplyTarget& target) {
  const auto fail = [&](std::string_view text) {
    scratch_.clear();
    resp::append_error(scratch_, text);
    target.deliver(scratch_);
    return dispatch::Where::answered();
  };
  std::uint32_t node = 0;
  bool has_keys = false;
  if (!keys_node(ctx_, info, command.args, node, has_keys, error_)) return fail(error_);
  if (!has_keys) return fail(resp::errors::kBlockingWithoutKeys);  // not reached
  stop();  // the previous one was answered (the session waited for it)
  request_.assign(resp_form(command, raw, scratch_));
  ReplyTarget to = target;
  const auto& pool = ctx_.config->pool;
  if (pool.type == config::PoolType::kCluster) {
    follower_ = std::make_shared<PinnedRedirect>(
        target, pool.cluster.max_redirects, true,
        [this](const route::Redirect& redirect) { return follow(redirect); }, redirect_wait(ctx_),
        pool.cluster.retry_delay);
    to = follower_->target();
  }
  if (!send_on(node, to, false)) return fail(error_);
  return dispatch::Where::at(node);
}

bool Blocking::send_on(std::uint32_t node, const ReplyTarget& to, bool asking) {
  link_ = open_link(ctx_, node, error_);
  if (!link_) return false;
  link_->start();
  if (!counted_) {
    ctx_.stats.blocking_inflight.add(1);
    counted_ = true;
  }
  if (asking) link_->send_quiet(kAsking);
  link_->send(request_, to);
  // After the reply the connection is idle again: back to the worker's cache, and no longer
  // this client's (stop() must not close it under its next user). A redirect followed has
  // already put the next connection in link_.
  link_->release([this](std::shared_ptr<backend::Link> link) {
    if (link_ == link) link_.reset();
    keep_for_reuse()(std::move(link));
  });
  return true;
}

// The node refused the command without running it (MOVED, ASK): the same bytes go to the node
// it named, on a dedicated connection there.
PinnedRedirect::Followed Blocking::follow(const route::Redirect& redirect) {
  using Followed = PinnedRedirect::Followed;
  const bool ask = redirect.kind == route::Redirect::Kind::kAsk;
  auto& nodes = ctx_.nodes();
  const auto node = nodes.follow_redirect(ask, redirect.slot, redirect.target);
  if (node >= nodes.node_count()) return Followed::kLater;  // not a primary of the pool yet
  const ReplyTarget to = follower_->target();
  if (send_on(node, to, ask)) return Followed::kYes;
  scratch_.clear();
  resp::append_error(scratch_, error_);
  follower_->finish(scratch_);
  return Followed::kYes;
}

void Blocking::done() {
  if (counted_) {
    counted_ = false;
    ctx_.stats.blocking_inflight.add(-1);
  }
}

void Blocking::stop() {
  done();
  if (follower_) {
    follower_->cancel();
    follower_.reset();
  }
  if (link_) {
    link_->stop();
    link_.reset();
  }
}

}  // namespace sidecache::server
