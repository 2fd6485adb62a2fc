#include "server/pinned_redirect.hpp"

#include <algorithm>
#include <string>

namespace sidecache::server {

void PinnedRedirect::on_reply(std::uint64_t, std::string_view reply) {
  route::Redirect redirect;
  if (!client_.sink) return;  // answered already
  if (!follow_ ||
      !route::follow_pinned_redirect(reply, followed_, max_redirects_, follow_ask_, redirect)) {
    return finish(reply);
  }
  // The reply's bytes live only during this call, and following sends on other connections.
  target_.assign(redirect.target);
  error_.assign(reply);
  redirect_ = redirect;
  redirect_.target = target_;
  ++followed_;
  attempt();
}

void PinnedRedirect::attempt() {
  const Follow follow = follow_;  // may cancel() this sink
  switch (follow(redirect_)) {
    case Followed::kYes:
      return;
    case Followed::kNo:
      return finish(error_);
    case Followed::kLater:
      break;
  }
  if (!wait_ || waits_ >= max_redirects_) return finish(error_);
  const auto delay = retry_delay_ * (1u << std::min(waits_, 3u));
  ++waits_;
  wait_(delay, [self = shared_from_this()] {
    if (self->follow_) self->attempt();  // cancelled meanwhile: the session is done with it
  });
}

void PinnedRedirect::finish(std::string_view reply) {
  // The client's target is let go: its owner (the session) may hold this sink.
  const ReplyTarget client = std::move(client_);
  client_ = ReplyTarget{nullptr, 0, client.lane, client.protocol};
  follow_ = nullptr;
  client.deliver(reply);
}

}  // namespace sidecache::server
