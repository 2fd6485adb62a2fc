#include "server/pinned_redirect.hpp"

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
  const std::string target(redirect.target);
  const std::string copy(reply);
  redirect.target = target;
  ++followed_;
  const Follow follow = follow_;  // may cancel() this sink
  if (!follow(redirect)) finish(copy);
}

void PinnedRedirect::finish(std::string_view reply) {
  // The client's target is let go: its owner (the session) may hold this sink.
  const ReplyTarget client = std::move(client_);
  client_ = ReplyTarget{nullptr, 0, client.lane, client.protocol};
  follow_ = nullptr;
  client.deliver(reply);
}

}  // namespace sidecache::server
