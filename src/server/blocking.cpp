#include "server/blocking.hpp"

#include "resp/errors.hpp"
#include "resp/writer.hpp"

namespace sidecache::server {

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
  link_ = open_link(ctx_, node, error_);
  if (!link_) return fail(error_);
  link_->start();
  ctx_.stats.blocking_inflight.add(1);
  counted_ = true;
  link_->send(resp_form(command, raw, scratch_), target);
  // After the reply the connection is idle again: back to the worker's cache, and no longer
  // this client's (stop() must not close it under its next user).
  link_->release([this](std::shared_ptr<backend::Link> link) {
    link_.reset();
    keep_for_reuse()(std::move(link));
  });
  return dispatch::Where::at(node);
}

void Blocking::done() {
  if (counted_) {
    counted_ = false;
    ctx_.stats.blocking_inflight.add(-1);
  }
}

void Blocking::stop() {
  done();
  if (link_) {
    link_->stop();
    link_.reset();
  }
}

}  // namespace sidecache::server
